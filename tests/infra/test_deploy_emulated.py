"""The deploy test: the synthesized stacks created in moto's server mode on 127.0.0.1 (a local AWS emulator from
PyPI), read back, and the real triage service started with the dev stage's settings against the emulated bucket.

What moto covers: its CloudFormation creates the S3 buckets (versioning, KMS encryption, public access block,
logging, lifecycle), KMS keys, IAM roles and managed policies, the VPC (subnets, routes, internet gateway, S3
gateway endpoint, flow log), security groups, the ECS cluster, task definition and service, the load balancer,
listeners and target group, the log group, the ECR repository and the SNS topic. Resources its CloudFormation skips
are created through their own APIs from the template's properties (tests/infra/emulator.py): Secrets Manager
secrets, the GitHub OIDC provider, bucket policies, CloudWatch alarms, Application Auto Scaling target and
policies, the security-group egress rule, the SNS topic policy; the SNS e-mail subscription is not created.

What it does not show (see infra/README.md, "What only a real account shows"): no container runs (ECS tasks, ALB
health checks and HTTPS, autoscaling, alarms changing state), bucket policies and KMS key policies are stored but
not enforced, IAM conditions are not evaluated like AWS does (moto treats an unmet condition as a deny), and the
OIDC trust of the GitHub roles cannot be exercised (no GitHub token).

The service part enforces IAM: moto's request authentication is switched on (POST /moto-api/reset-auth) and the
service runs with credentials of the dev task role (sts:AssumeRole in the emulator), so its reads and writes are
checked against the role's policies: it reads models/triage/dev/, writes predictions/dev/, and is refused the prod
prefixes.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from botocore.exceptions import ClientError

from triage_shared.store import ModelStore

from ..service.conftest import Server
from . import emulator
from .conftest import STAGES, resources_of

IMAGE_TAG = "0123456789abcdef0123456789abcdef01234567"


def first(deployed: emulator.Deployed, prefix: str, kind: str | None = None) -> str:
    """Physical id of the one resource (of type `kind`) whose logical id starts with `prefix`."""
    (physical,) = [p for logical, p in {**deployed.physical, **deployed.created_outside_cloudformation}.items()
                   if logical.startswith(prefix) and kind in (None, deployed.types.get(logical))]
    return physical


@pytest.fixture(scope="module")
def deployed(synthesis, moto_endpoint) -> dict[str, emulator.Deployed]:
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    started = time.monotonic()
    stacks = {"shared": emulator.deploy(moto_endpoint, "triage-shared", synthesis.template("triage-shared"))}
    for stage in STAGES:
        certificate = emulator.client(moto_endpoint, "acm").request_certificate(
            DomainName=f"triage-{stage}.example.org")["CertificateArn"]
        stacks[stage] = emulator.deploy(moto_endpoint, f"triage-{stage}", synthesis.template(f"triage-{stage}"),
                                        {"CertificateArn": certificate, "ImageTag": IMAGE_TAG})
    print(f"three stacks created in moto in {time.monotonic() - started:.1f} s")
    return stacks


def test_data_bucket_reads_back_versioned_encrypted_private_tls_only(deployed, moto_endpoint):
    s3 = emulator.client(moto_endpoint, "s3")
    shared = deployed["shared"]
    bucket = shared.outputs["TriageBucket"]
    assert bucket == shared.outputs["DvcBucket"] == f"triage-data-{emulator.ACCOUNT}-{emulator.REGION}"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default["KMSMasterKeyID"].endswith(first(shared, "StorageDataKey"))
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert any(s["Effect"] == "Deny" and s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false"
               for s in policy["Statement"])
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert {"prediction-segments-dev", "prediction-segments-prod"} <= set(rules)
    logging = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
    assert logging["TargetBucket"] == first(shared, "StorageAccessLogBucket7")
    log_rule = s3.get_bucket_encryption(Bucket=logging["TargetBucket"])["ServerSideEncryptionConfiguration"]["Rules"]
    assert log_rule[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    iam = emulator.client(moto_endpoint, "iam")
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [shared.created_outside_cloudformation[
        next(k for k in shared.created_outside_cloudformation if k.startswith("GithubOidc"))]]
    for variable in ("AwsRoleCi", "AwsRoleMonitor"):
        role = iam.get_role(RoleName=shared.outputs[variable].split("/")[-1])["Role"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Federated"].endswith(
            "token.actions.githubusercontent.com")


@pytest.mark.parametrize("stage", STAGES)
def test_stage_resources_read_back(deployed, moto_endpoint, synthesis, stage):
    stack = deployed[stage]
    template = synthesis.template(f"triage-{stage}")
    (expected_retention,) = [r["Properties"]["RetentionInDays"]
                             for r in resources_of(template, "AWS::Logs::LogGroup").values()]
    ecr = emulator.client(moto_endpoint, "ecr")
    (repository,) = ecr.describe_repositories(repositoryNames=[f"triage-{stage}"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE" and repository["imageScanningConfiguration"]["scanOnPush"]
    assert stack.outputs["EcrRepository"] == repository["repositoryUri"]
    (group,) = emulator.client(moto_endpoint, "logs").describe_log_groups(
        logGroupNamePrefix=first(stack, "ServiceLogs"))["logGroups"]
    assert group["retentionInDays"] == expected_retention  # (its KmsKeyId moto's CloudFormation drops: see templates)
    ecs = emulator.client(moto_endpoint, "ecs")
    (service,) = ecs.describe_services(cluster=stack.outputs["EcsCluster"],
                                       services=[stack.outputs["EcsService"]])["services"]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    assert container["name"] == stack.outputs["EcsContainer"]
    assert container["image"] == f"{repository['repositoryUri']}:{IMAGE_TAG}"
    assert {v["name"]: v["value"] for v in container["environment"]}["TRIAGE_ENV"] == stage
    assert {s["name"] for s in container["secrets"]} == {"TRIAGE_API_KEYS", "TRIAGE_PSEUDONYM_KEY"}
    # (moto keeps only family, containers and memory of a task definition from CloudFormation: the task role, CPU
    # and network mode are checked on the template)
    elb = emulator.client(moto_endpoint, "elbv2")
    (target_group,) = elb.describe_target_groups(TargetGroupArns=[first(stack, "ServiceLoadBalancerHttpsService")])[
        "TargetGroups"]
    assert target_group["HealthCheckPath"] == "/readyz" and target_group["Port"] == 8000
    listeners = {listener["Port"]: listener for listener in elb.describe_listeners(
        LoadBalancerArn=first(stack, "ServiceLoadBalancer3"))["Listeners"]}
    assert listeners[443]["Protocol"] == "HTTPS" and listeners[443]["Certificates"]
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    alarms = emulator.client(moto_endpoint, "cloudwatch").describe_alarms(
        AlarmNames=list(stack.alarm_names.values()))["MetricAlarms"]
    assert len(alarms) == len(resources_of(template, "AWS::CloudWatch::Alarm"))
    drift = next(a for a in alarms if "Drift" in a["AlarmName"] and "Missing" not in a["AlarmName"])
    assert (drift["Namespace"], drift["MetricName"], drift["Dimensions"]) == (
        "Triage/Monitoring", "DriftDetected", [{"Name": "Environment", "Value": stage}])
    assert all(a["AlarmActions"] == [first(stack, "AlarmsTopic", "AWS::SNS::Topic")] for a in alarms)
    (target,) = emulator.client(moto_endpoint, "application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs")["ScalableTargets"][STAGES.index(stage):STAGES.index(stage) + 1]
    (scalable,) = resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["MinCapacity"], target["MaxCapacity"]) == (scalable["Properties"]["MinCapacity"]["Fn::If"][1],
                                                              scalable["Properties"]["MaxCapacity"]["Fn::If"][1])
    secret = emulator.client(moto_endpoint, "secretsmanager").describe_secret(SecretId=first(stack, "ServiceApiKeys"))
    assert secret.get("KmsKeyId")
    iam = emulator.client(moto_endpoint, "iam")
    (attached,) = iam.list_attached_role_policies(RoleName=first(stack, "ServiceTaskRole"))["AttachedPolicies"]
    version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    bucket = deployed["shared"].outputs["TriageBucket"]
    s3_resources = {r for s in document["Statement"] if str(s["Action"]).count("s3:")
                    for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
    assert s3_resources == {f"arn:aws:s3:::{bucket}/models/triage/{stage}/*",
                            f"arn:aws:s3:::{bucket}/predictions/{stage}/*"}


def set_authentication(endpoint: str, enforced: bool) -> None:
    """moto's IAM enforcement: every request signed by a known identity and allowed by its policies (or not)."""
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0" if enforced else b"inf", timeout=10).raise_for_status()


def denied(call) -> bool:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"] in ("AccessDenied", "403")
    return False


def test_service_runs_with_the_dev_task_roles_access_to_the_emulated_bucket(deployed, moto_endpoint, model_dir,
                                                                              test_records, tmp_path):
    shared, dev = deployed["shared"], deployed["dev"]
    bucket = shared.outputs["TriageBucket"]
    admin = emulator.client(moto_endpoint, "s3")
    # moto evaluates a bucket-policy statement whose condition it cannot check (it supplies no aws:SecureTransport)
    # as a deny of every request: the TLS-only policy, read back above, comes off while objects are exchanged over
    # the emulator's plain HTTP (AWS S3 admits the service's HTTPS requests under it), and goes back on afterwards.
    tls_only_policy = admin.get_bucket_policy(Bucket=bucket)["Policy"]
    admin.delete_bucket_policy(Bucket=bucket)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    model = (model_dir / "model.onnx").read_bytes()
    for stage in STAGES:  # the project's own publish code, into the bucket layout
        ModelStore(admin, bucket).publish(stage, model, manifest, f"# model card ({stage})\n")
    definition = emulator.client(moto_endpoint, "ecs").describe_task_definition(
        taskDefinition=first(dev, "ServiceTaskDefinition"))["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    task_environment = {v["name"]: v["value"] for v in container["environment"]}
    api_key = dev.secret_values[next(k for k in dev.secret_values if k.startswith("ServiceApiKeys"))]
    pseudonym_key = next(iter(shared.secret_values.values()))
    task_role = emulator.client(moto_endpoint, "iam").get_role(RoleName=first(dev, "ServiceTaskRole"))["Role"]
    assumed = emulator.client(moto_endpoint, "sts").assume_role(RoleArn=task_role["Arn"],
                                                               RoleSessionName="ecs-task")["Credentials"]
    task_credentials = {"aws_access_key_id": assumed["AccessKeyId"],
                        "aws_secret_access_key": assumed["SecretAccessKey"],
                        "aws_session_token": assumed["SessionToken"]}
    task_s3 = emulator.client(moto_endpoint, "s3", task_credentials)
    set_authentication(moto_endpoint, True)
    server = None
    try:
        assert task_s3.get_object(Bucket=bucket, Key="models/triage/dev/manifest.json")["Body"].read()
        assert denied(lambda: task_s3.get_object(Bucket=bucket, Key="models/triage/prod/manifest.json"))
        assert denied(lambda: task_s3.put_object(Bucket=bucket, Key="predictions/prod/x.txt", Body=b"{}\n"))
        assert denied(lambda: task_s3.put_object(Bucket=bucket, Key="models/triage/dev/model.onnx", Body=b"x"))
        assert denied(lambda: task_s3.get_object(Bucket=bucket, Key="dvc/files/md5/00/0000"))
        environment = {
            **{k: v for k, v in task_environment.items() if k not in ("TRIAGE_HOST", "TRIAGE_PORT", "TRIAGE_LOG_DIR")},
            "TRIAGE_HOST": "127.0.0.1",  # loopback here; 0.0.0.0 in the task (its security group admits the ALB)
            "TRIAGE_API_KEYS": api_key, "TRIAGE_PSEUDONYM_KEY": pseudonym_key,
            "TRIAGE_S3_ENDPOINT": moto_endpoint, "TRIAGE_LOG_PUSH_INTERVAL_S": "1",
            "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
            "AWS_SESSION_TOKEN": assumed["SessionToken"],
        }
        server = Server(environment, tmp_path).start()  # waits for /readyz: the dev model pulled and verified
        with server.client(api_key) as http:
            assert http.get("/v1/model").json()["onnx"]["sha256"] == manifest["onnx"]["sha256"]
            for record in test_records[:5]:
                assert http.post("/v1/predict", json=record).status_code == 200
        pushed = server.log_file.with_name(server.log_file.name + ".pushed")
        deadline = time.monotonic() + 20
        while not (pushed.exists() and int(pushed.read_text() or 0) == server.log_file.stat().st_size):
            assert time.monotonic() < deadline, "the prediction log was not pushed:\n" + server.log_text()
            time.sleep(0.2)
        server.stop()
        assert "AccessDenied" not in server.log_text() and "refused" not in server.log_text()
    finally:
        if server is not None:
            server.stop()
        set_authentication(moto_endpoint, False)
    segments = admin.list_objects_v2(Bucket=bucket, Prefix="predictions/dev/").get("Contents", [])
    lines = [json.loads(line) for segment in segments
             for line in admin.get_object(Bucket=bucket, Key=segment["Key"])["Body"].read().splitlines()]
    assert len(lines) == 5 and {line["env"] for line in lines} == {"dev"}
    assert not admin.list_objects_v2(Bucket=bucket, Prefix="predictions/prod/").get("Contents")
    admin.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy)
