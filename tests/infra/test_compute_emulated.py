"""The heavy-job stack (triage-compute) created in moto's server mode after the shared stack, read back, and its job
roles' S3 access checked with moto's IAM enforcement on.

moto's CloudFormation creates the VPC (isolated subnets, route tables, the S3 gateway and five interface endpoints,
the flow log), the security groups and the ingress rule, the KMS key, the log groups, the jobs repository, the roles
and their managed policies, and the Batch compute environment, job queue and job definition. The EMR Serverless
application, a stand-in for Batch's service-linked role and the repository policy are created through their own APIs
(tests/infra/emulator_resources.py). What moto drops (the job definition's timeout, the log groups' KMS key, the
application's image, runtime and monitoring configuration, the subnets' MapPublicIpOnLaunch) is checked on the
template in test_compute.py. No job
runs here: neither EMR Serverless nor Batch on Fargate starts a container in moto.
"""

from __future__ import annotations

import httpx
import pytest

from . import emulator
from .test_deploy_emulated import denied, set_authentication

IMAGE_TAG = "deps-0123456789abcdef"


@pytest.fixture(scope="module")
def stacks(synthesis, moto_endpoint) -> dict[str, emulator.Deployed]:
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    shared = emulator.deploy(moto_endpoint, "triage-shared", synthesis.template("triage-shared"))
    compute = emulator.deploy(moto_endpoint, "triage-compute", synthesis.template("triage-compute"),
                              {"JobsImageTag": IMAGE_TAG})
    return {"shared": shared, "compute": compute}


def physical(deployed: emulator.Deployed, prefix: str, kind: str) -> list[str]:
    return [p for logical, p in deployed.physical.items()
            if logical.startswith(prefix) and deployed.types.get(logical) == kind]


def test_network_reads_back_private(stacks, moto_endpoint):
    compute = stacks["compute"]
    ec2 = emulator.client(moto_endpoint, "ec2")
    (vpc,) = physical(compute, "NetworkVpc", "AWS::EC2::VPC")
    attached = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])
    assert not attached["InternetGateways"]
    assert not ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NatGateways"]
    for table in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]:
        assert not [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"], table["Routes"]
    # (moto's CloudFormation ignores a subnet's MapPublicIpOnLaunch: test_compute.py checks it is false)
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert {e["ServiceName"].removeprefix(f"com.amazonaws.{emulator.REGION}.") for e in endpoints} == {
        "s3", "ecr.api", "ecr.dkr", "logs", "sts", "secretsmanager"}
    (jobs,) = physical(compute, "NetworkJobsSecurityGroup", "AWS::EC2::SecurityGroup")
    (group,) = ec2.describe_security_groups(GroupIds=[jobs])["SecurityGroups"]
    assert group["IpPermissions"] == []  # no inbound rule at all


def test_job_targets_read_back(stacks, moto_endpoint, synthesis):
    compute = stacks["compute"]
    outputs = compute.outputs
    application = emulator.client(moto_endpoint, "emr-serverless").get_application(
        applicationId=outputs["TriageEmrApplicationId"])["application"]
    (jobs,) = physical(compute, "NetworkJobsSecurityGroup", "AWS::EC2::SecurityGroup")
    subnets = set(physical(compute, "NetworkVpcjobs", "AWS::EC2::Subnet"))
    assert application["releaseLabel"].startswith("emr-7.") and application["maximumCapacity"]["cpu"]
    assert application["autoStopConfiguration"]["enabled"] and application["autoStartConfiguration"]["enabled"]
    assert set(application["networkConfiguration"]["subnetIds"]) == subnets
    assert application["networkConfiguration"]["securityGroupIds"] == [jobs]
    batch = emulator.client(moto_endpoint, "batch")
    (queue,) = batch.describe_job_queues(jobQueues=[outputs["TriageTrainingJobQueue"]])["jobQueues"]
    (order,) = queue["computeEnvironmentOrder"]
    (environment,) = batch.describe_compute_environments(
        computeEnvironments=[order["computeEnvironment"]])["computeEnvironments"]
    assert environment["computeResources"]["type"] == "FARGATE"
    assert set(environment["computeResources"]["subnets"]) == subnets
    assert environment["computeResources"]["securityGroupIds"] == [jobs]
    (definition,) = batch.describe_job_definitions(jobDefinitionName=outputs["TriageTrainingJobDefinition"],
                                                   status="ACTIVE")["jobDefinitions"]
    container = definition["containerProperties"]
    assert container["image"] == f"{outputs['TriageJobsRepository']}:{IMAGE_TAG}"
    assert container["networkConfiguration"] == {"assignPublicIp": "DISABLED"}
    assert container["logConfiguration"]["options"]["awslogs-group"] == outputs["TriageTrainingLogGroup"]
    assert container["jobRoleArn"].endswith(":role/triage-training-job")
    ecr = emulator.client(moto_endpoint, "ecr")
    (repository,) = ecr.describe_repositories(repositoryNames=["triage-jobs"])["repositories"]
    assert repository["repositoryUri"] == outputs["TriageJobsRepository"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert application["arn"] in ecr.get_repository_policy(repositoryName="triage-jobs")["policyText"]
    logs = emulator.client(moto_endpoint, "logs")
    for name in (outputs["TriageEmrLogGroup"], outputs["TriageTrainingLogGroup"]):
        (group,) = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        assert group["retentionInDays"] > 0


def credentials_of(endpoint: str, role_arn: str) -> dict[str, str]:
    assumed = emulator.client(endpoint, "sts").assume_role(RoleArn=role_arn, RoleSessionName="job")["Credentials"]
    return {"aws_access_key_id": assumed["AccessKeyId"], "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"]}


def test_job_roles_reach_only_their_prefixes(stacks, moto_endpoint):
    bucket = stacks["shared"].outputs["TriageBucket"]
    admin = emulator.client(moto_endpoint, "s3")
    tls_only_policy = admin.get_bucket_policy(Bucket=bucket)["Policy"]  # see test_deploy_emulated: lifted meanwhile
    admin.delete_bucket_policy(Bucket=bucket)
    for key in ("raw/a.csv", "dvc/files/md5/00/00", "jobs/runs/run-1/spec.json", "models/triage/dev/manifest.json",
                "stages/parts/00.parquet"):
        admin.put_object(Bucket=bucket, Key=key, Body=b"{}")
    iam = emulator.client(moto_endpoint, "iam")
    emr = emulator.client(moto_endpoint, "s3", credentials_of(
        moto_endpoint, stacks["compute"].outputs["TriageEmrJobRoleArn"]))
    training = emulator.client(moto_endpoint, "s3", credentials_of(
        moto_endpoint, iam.get_role(RoleName="triage-training-job")["Role"]["Arn"]))
    set_authentication(moto_endpoint, True)
    try:
        for role in (emr, training):
            assert role.get_object(Bucket=bucket, Key="dvc/files/md5/00/00")["Body"].read() == b"{}"
            assert role.get_object(Bucket=bucket, Key="jobs/runs/run-1/spec.json")["Body"].read() == b"{}"
            assert role.get_object(Bucket=bucket, Key="stages/parts/00.parquet")["Body"].read() == b"{}"
            role.put_object(Bucket=bucket, Key="jobs/runs/run-1/outputs/part-0.parquet", Body=b"x")
            role.put_object(Bucket=bucket, Key="jobs/runs/run-1/logs/stage.log", Body=b"x")
            assert denied(lambda r=role: r.put_object(Bucket=bucket, Key="jobs/runs/run-1/spec.json", Body=b"x"))
            assert denied(lambda r=role: r.put_object(Bucket=bucket, Key="dvc/files/md5/00/01", Body=b"x"))
            assert denied(lambda r=role: r.get_object(Bucket=bucket, Key="models/triage/dev/manifest.json"))
        assert emr.get_object(Bucket=bucket, Key="raw/a.csv")["Body"].read() == b"{}"
        emr.put_object(Bucket=bucket, Key="stages/parts/01.parquet", Body=b"x")  # the Spark tasks' parts
        assert denied(lambda: training.put_object(Bucket=bucket, Key="stages/parts/02.parquet", Body=b"x"))
        assert denied(lambda: training.get_object(Bucket=bucket, Key="raw/a.csv"))
    finally:
        set_authentication(moto_endpoint, False)
        admin.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy)
