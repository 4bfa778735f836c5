"""The submit-and-wait path against moto's server mode (EMR Serverless, AWS Batch, S3, IAM on 127.0.0.1): the job
is created as specified, its states are followed, a failure is surfaced with the service's words, and without the
job's output manifest nothing is put in place. Missing configuration is refused at once, before any upload.
moto runs no job: an EMR Serverless run is SUCCESS at once (so the missing manifest is what must stop it) and a Batch
job FAILED (moto has no container engine here)."""

from __future__ import annotations

import json

import boto3
import pytest

from triage.cloud.settings import compute_settings
from triage.cloud.submit import JobFailed, submit_stage
from triage.errors import UserError

pytestmark = pytest.mark.slow
REGION = "eu-west-1"
BUCKET = "triage-data"
PARAMS = {"data": {"raw_dir": "data/raw", "executor": {"engine": "spark", "store": f"s3://{BUCKET}/stages"}},
          "compute": {"profile": "aws", "stages": {"ingest": "spark", "train": "training"}, "poll_seconds": 0.2,
                      "spark": {"timeout_minutes": 30, "executor_cores": 4},
                      "training": {"timeout_minutes": 60, "vcpus": 8, "memory_mib": 32768}}}


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    requests = __import__("urllib.request").request
    requests.urlopen(requests.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    for name, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "TRIAGE_BUCKET": BUCKET}.items():
        monkeypatch.setenv(name, value)
    for name in ("TRIAGE_S3_ENDPOINT", "TRIAGE_COMPUTE", "TRIAGE_PSEUDONYM_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    role = boto3.client("iam").create_role(RoleName="triage-job", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return role


@pytest.fixture
def emr_application(aws, monkeypatch) -> str:
    application = boto3.client("emr-serverless").create_application(
        name="triage-data-stages", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
    monkeypatch.setenv("TRIAGE_EMR_APPLICATION_ID", application)
    monkeypatch.setenv("TRIAGE_EMR_JOB_ROLE_ARN", aws)
    return application


@pytest.fixture
def batch_queue(aws, monkeypatch) -> str:
    ec2, batch = boto3.client("ec2"), boto3.client("batch")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="triage-jobs", Description="jobs", VpcId=vpc)["GroupId"]
    environment = batch.create_compute_environment(
        computeEnvironmentName="triage-training", type="MANAGED", state="ENABLED", serviceRole=aws,
        computeResources={"type": "FARGATE", "maxvCpus": 16, "subnets": [subnet], "securityGroupIds": [group]},
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(jobQueueName="triage-training", state="ENABLED", priority=1,
                                   computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}])
    definition = batch.register_job_definition(
        jobDefinitionName="triage-training", type="container", platformCapabilities=["FARGATE"],
        parameters={"job_spec": ""},
        containerProperties={"image": "triage-jobs:test", "command": ["python3", "/opt/triage/run_job.py",
                                                                     "Ref::job_spec"],
                             "executionRoleArn": aws, "resourceRequirements": [{"type": "VCPU", "value": "8"},
                                                                              {"type": "MEMORY", "value": "32768"}]})
    monkeypatch.setenv("TRIAGE_TRAINING_JOB_QUEUE", queue["jobQueueArn"])
    monkeypatch.setenv("TRIAGE_TRAINING_JOB_DEFINITION", definition["jobDefinitionArn"])
    return queue["jobQueueArn"]


def submit(stage: str, root, lines: list[str] | None = None) -> None:
    settings = compute_settings(PARAMS, {})
    submit_stage(stage, PARAMS, settings, root, progress=(lines.append if lines is not None else lambda _: None))


def test_a_missing_stack_output_is_refused_before_anything_is_uploaded(aws, tiny_repo, monkeypatch):
    monkeypatch.delenv("TRIAGE_EMR_APPLICATION_ID", raising=False)
    with pytest.raises(UserError, match=r"^compute profile aws: TRIAGE_EMR_APPLICATION_ID is not set"):
        submit("ingest", tiny_repo)
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)


def test_missing_credentials_are_refused(aws, tiny_repo, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("TRIAGE_EMR_APPLICATION_ID", "00fakeapp")
    monkeypatch.setenv("TRIAGE_EMR_JOB_ROLE_ARN", "arn:aws:iam::123456789012:role/x")
    with pytest.raises(UserError, match="no AWS credentials"):
        submit("ingest", tiny_repo)


@pytest.mark.parametrize(("store", "refusal"), [(None, "data.executor.store is not set: EMR Serverless runs"),
                                                ("s3://elsewhere/stages", "is outside s3://triage-data/stages/")])
def test_a_spark_job_without_its_store_in_the_bucket_is_refused_before_upload(emr_application, tiny_repo, store,
                                                                               refusal):
    params = {**PARAMS, "data": {"raw_dir": "data/raw", "executor": {"engine": "spark", "store": store}}}
    with pytest.raises(UserError, match=refusal):
        submit_stage("ingest", params, compute_settings(params, {}), tiny_repo, progress=lambda _: None)
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)


def test_an_application_that_is_not_deployed_is_refused(aws, tiny_repo, monkeypatch):
    monkeypatch.setenv("TRIAGE_EMR_APPLICATION_ID", "00ffffffffffffff")
    monkeypatch.setenv("TRIAGE_EMR_JOB_ROLE_ARN", aws)
    with pytest.raises(UserError, match="00ffffffffffffff does not exist .*is triage-compute deployed"):
        submit("ingest", tiny_repo)


def test_the_emr_job_run_is_created_as_specified_and_without_a_manifest_nothing_is_placed(emr_application, aws,
                                                                                          tiny_repo):
    existing = tiny_repo / "data/interim/ingested.parquet"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"the previous run's")
    lines: list[str] = []
    with pytest.raises(JobFailed, match="ended well but wrote no output manifest"):
        submit("ingest", tiny_repo, lines)
    assert existing.read_bytes() == b"the previous run's"  # nothing placed, nothing removed
    emr = boto3.client("emr-serverless")
    run_id = emr.list_job_runs(applicationId=emr_application)["jobRuns"][0]["id"]
    run = emr.get_job_run(applicationId=emr_application, jobRunId=run_id)["jobRun"]
    driver = run["jobDriver"]["sparkSubmit"]
    spec_uri = driver["entryPointArguments"][0]
    assert run["executionRole"] == aws
    assert driver["entryPoint"] == spec_uri.replace("job.json", "run_job.py")
    assert "spark.executor.cores=4" in driver["sparkSubmitParameters"]
    assert "TRIAGE_SPARK_SUBMITTED=1" in driver["sparkSubmitParameters"]
    spec = json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=spec_uri.split(f"{BUCKET}/")[1])["Body"].read())
    assert spec["stage"] == "ingest" and set(spec["inputs"]) == {"data/raw/site_a.csv", "params.yaml"}
    assert spec["outputs"] == ["data/interim/ingested.parquet"] and spec["secrets"] == {}
    assert any("SUCCESS" in line for line in lines)


def test_a_failed_batch_job_is_surfaced_with_its_state(batch_queue, tiny_repo):
    lines: list[str] = []
    with pytest.raises(JobFailed, match=r"^stage train: AWS Batch job \S+ \(queue .*\) FAILED"):
        submit("train", tiny_repo, lines)
    assert not (tiny_repo / "models/pipeline.joblib").exists()
    job = boto3.client("batch").list_jobs(jobQueue=batch_queue, jobStatus="FAILED")["jobSummaryList"][0]
    described = boto3.client("batch").describe_jobs(jobs=[job["jobId"]])["jobs"][0]
    assert described["parameters"]["job_spec"].startswith(f"s3://{BUCKET}/jobs/runs/")
    assert described["timeout"]["attemptDurationSeconds"] == 3600


def test_a_queue_that_is_not_deployed_is_refused(aws, tiny_repo, monkeypatch):
    monkeypatch.setenv("TRIAGE_TRAINING_JOB_QUEUE", "triage-missing")
    monkeypatch.setenv("TRIAGE_TRAINING_JOB_DEFINITION", "triage-missing")
    with pytest.raises(UserError, match="job queue triage-missing does not exist"):
        submit("train", tiny_repo)
