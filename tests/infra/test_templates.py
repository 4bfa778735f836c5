"""The synthesized CloudFormation of the AWS deployment (infra/, AWS CDK): both stages and the shared stack.

Synthesis runs once per session (conftest `synthesis`) in infra/.venv with cdk-nag's AWS Solutions and HIPAA
Security packs, which stop synthesis on any finding that is not acknowledged with a reason.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from .conftest import (
    STACKS,
    STAGES,
    TEST_REPOSITORY,
    acknowledgments,
    infra_environments,
    infra_tool,
    resources_of,
    synthesize,
)

TEST_API_KEY = "test-api-key-0123456789"  # the service tests' key: must never reach a template


def render(value) -> str:
    """A template value as one string: Ref/GetAtt/ImportValue shown as <...>, joins concatenated."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (key, argument), = value.items()
        if key == "Fn::Join":
            return argument[0].join(render(v) for v in argument[1])
        if key == "Ref":
            return f"<{argument}>"
        if key == "Fn::GetAtt":
            return f"<{'.'.join(argument)}>"
        if key == "Fn::ImportValue":
            return f"<import {render(argument)}>"
    return json.dumps(value, sort_keys=True)


def statements(policy: dict) -> list[dict]:
    return policy["Properties"]["PolicyDocument"]["Statement"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def policy_of_role(template: dict, role_logical: str) -> dict:
    attached = [p for p in resources_of(template, "AWS::IAM::ManagedPolicy").values()
                if {"Ref": role_logical} in p["Properties"].get("Roles", [])]
    assert len(attached) == 1, f"{role_logical}: one managed policy expected, got {len(attached)}"
    assert not [p for p in resources_of(template, "AWS::IAM::Policy").values()
                if {"Ref": role_logical} in p["Properties"].get("Roles", [])], "no inline policy"
    return attached[0]


def task_role(template: dict) -> str:
    (definition,) = resources_of(template, "AWS::ECS::TaskDefinition").values()
    return definition["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]


def test_synthesis_of_both_stages(synthesis):
    for stack in STACKS:
        template = synthesis.template(stack)
        assert template["Resources"], stack
    sizes = {stack: synthesis.template_path(stack).stat().st_size for stack in STACKS}
    print(f"synthesis {synthesis.seconds:.1f} s; template bytes {sizes}")
    assert set(re.search(r"triage-infra: synthesized (.+) into ", synthesis.output).group(1).split(", ")) == set(STACKS)


def test_cfn_lint_passes(synthesis):
    paths = [str(synthesis.template_path(stack)) for stack in STACKS]
    result = subprocess.run([str(infra_tool("cfn-lint")), *paths], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cdk_nag_acknowledgments_are_justified_and_each_hides_a_real_finding(synthesis, tmp_path):
    """Synthesis passed both packs; every acknowledgment carries a reason; and a synthesis that acknowledges nothing
    (TRIAGE_INFRA_NAG_AUDIT=1) fails with exactly the acknowledged findings, so none is stale."""
    acknowledged: dict[str, set[str]] = {}
    for stack in STACKS:
        for rule, reasons in acknowledgments(synthesis.template(stack)).items():
            assert all(len(reason) >= 40 for reason in reasons), (stack, rule, reasons)
            acknowledged.setdefault(stack, set()).add(rule)
    result, _ = synthesize(tmp_path, extra_env={"TRIAGE_INFRA_NAG_AUDIT": "1"}, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert {plugin["pluginName"] for plugin in report["pluginReports"]} == {"AwsSolutions", "HIPAA.Security"}
    found: dict[str, set[str]] = {}
    for plugin in report["pluginReports"]:
        for violation in plugin["violations"]:
            for construct in violation["violatingConstructs"]:
                found.setdefault(construct["constructPath"].split("/")[0], set()).add(violation["ruleName"])
    assert found == acknowledged


def test_task_role_names_only_its_stages_prefixes(synthesis):
    for stage in STAGES:
        template = synthesis.template(f"triage-{stage}")
        policy = policy_of_role(template, task_role(template))
        allowed = {"s3:GetObject": f"/models/triage/{stage}/*", "s3:GetObjectVersion": f"/models/triage/{stage}/*",
                   "s3:PutObject": f"/predictions/{stage}/*", "s3:AbortMultipartUpload": f"/predictions/{stage}/*"}
        s3_actions = set()
        for statement in statements(policy):
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                if action.startswith("s3:"):
                    s3_actions.add(action)
                    for resource in as_list(statement["Resource"]):
                        assert render(resource).endswith(allowed[action]), (stage, action, render(resource))
                else:
                    assert action in ("kms:Decrypt", "kms:GenerateDataKey"), action
                    assert "kms:ViaService" in statement["Condition"]["StringEquals"]
        assert s3_actions == set(allowed), s3_actions
        other = "prod" if stage == "dev" else "dev"
        assert f"/{other}/" not in json.dumps(policy)


def test_publish_and_deploy_roles_reach_only_their_stage(synthesis):
    for stage in STAGES:
        template = synthesis.template(f"triage-{stage}")
        roles = resources_of(template, "AWS::IAM::Role")
        publish = next(k for k in roles if k.startswith("PublishRole"))
        writes = [render(r) for s in statements(policy_of_role(template, publish))
                  if {"s3:PutObject", "s3:DeleteObject"} & set(as_list(s["Action"])) for r in as_list(s["Resource"])]
        assert writes and all(w.endswith(f"/models/triage/{stage}/*") for w in writes), writes
        deploy = next(k for k in roles if k.startswith("DeployRole"))
        for statement in statements(policy_of_role(template, deploy)):
            actions = as_list(statement["Action"])
            if "ecs:UpdateService" in actions:
                assert statement["Resource"] == {"Ref": next(iter(resources_of(template, "AWS::ECS::Service")))}
            if "ecr:PutImage" in actions:
                assert statement["Resource"]["Fn::GetAtt"][0] in resources_of(template, "AWS::ECR::Repository")
            if "iam:PassRole" in actions:
                assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
            assert not any(a.endswith("*") for a in actions), actions


def test_buckets_deny_non_tls_and_are_private_versioned_encrypted(synthesis):
    template = synthesis.template("triage-shared")
    buckets = resources_of(template, "AWS::S3::Bucket")
    assert len(buckets) == 2
    for logical, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}
        (policy,) = [p for p in resources_of(template, "AWS::S3::BucketPolicy").values()
                     if p["Properties"]["Bucket"] == {"Ref": logical}]
        denies = [s for s in statements(policy) if s["Effect"] == "Deny"
                  and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        assert len(denies) == 1 and denies[0]["Action"] == "s3:*" and denies[0]["Principal"] == {"AWS": "*"}
        assert {render(r) for r in denies[0]["Resource"]} == {f"<{logical}.Arn>", f"<{logical}.Arn>/*"}
    data = next(b for k, b in buckets.items() if k.startswith("StorageDataBucket"))["Properties"]
    encryption = data["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and encryption["BucketKeyEnabled"]
    assert data["LoggingConfiguration"]["DestinationBucketName"]["Ref"].startswith("StorageAccessLogBucket")
    rules = {rule["Id"]: rule for rule in data["LifecycleConfiguration"]["Rules"]}
    stages = infra_environments().STAGES
    for stage in STAGES:
        rule = rules[f"prediction-segments-{stage}"]
        assert rule["Prefix"] == f"predictions/{stage}/"
        assert rule["ExpirationInDays"] == stages[stage].prediction_log_expire_days


def test_no_secret_value_in_any_template(synthesis):
    for stack in STACKS:
        text = synthesis.template_path(stack).read_text()
        template = json.loads(text)
        for secret in resources_of(template, "AWS::SecretsManager::Secret").values():
            assert "SecretString" not in secret["Properties"] and "GenerateSecretString" in secret["Properties"]
        for definition in resources_of(template, "AWS::ECS::TaskDefinition").values():
            (container,) = definition["Properties"]["ContainerDefinitions"]
            names = {variable["Name"] for variable in container["Environment"]}
            assert not names & {"TRIAGE_API_KEYS", "TRIAGE_PSEUDONYM_KEY", "AWS_SECRET_ACCESS_KEY"}
            assert {s["Name"] for s in container["Secrets"]} == {"TRIAGE_API_KEYS", "TRIAGE_PSEUDONYM_KEY"}
        assert not re.search(r"AKIA[0-9A-Z]{16}|-----BEGIN|aws_secret_access_key", text)
        assert TEST_API_KEY not in text and "dev-key-change-me" not in text


def normalise(template: dict, stage: str) -> dict:
    """The stage's name, and the hashes CDK derives from names that contain it, replaced by STAGE / HASH."""
    text = json.dumps(template)
    text = re.sub(rf"triage-?{stage}", lambda match: match.group(0).replace(stage, "STAGE"), text)
    text = re.sub(rf"(?<![A-Za-z]){stage}(?![A-Za-z])", "STAGE", text)
    text = re.sub(r"\"([A-Za-z0-9]*triageSTAGE[A-Za-z0-9]*)\"",
                  lambda match: '"' + re.sub(r"[0-9A-F]{8,}", "HASH", match.group(1)) + '"', text)
    normalised = json.loads(text)
    for resource in normalised["Resources"].values():  # acknowledgments are compared on their own below
        resource.get("Metadata", {}).pop("cdk_nag", None)
    return normalised


def differences(a, b, path: str = "") -> list[tuple[str, object, object]]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b))
                for d in differences(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{path}/{key}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [(path, a, b)]


def test_dev_and_prod_differ_only_where_the_parameters_say(synthesis):
    """Normalise the stage name; every remaining difference must be a StageConfig value of environments.py
    (as a number, a string, seconds for milliseconds, a lowercase boolean, or inside a description)."""
    dev_config, prod_config = (infra_environments().STAGES[s] for s in STAGES)
    fields = {f: (getattr(dev_config, f), getattr(prod_config, f)) for f in vars(dev_config)
              if getattr(dev_config, f) != getattr(prod_config, f) and f != "name"}
    renderings = set()
    for dev_value, prod_value in fields.values():
        renderings |= {(dev_value, prod_value), (str(dev_value), str(prod_value)),
                       (str(dev_value).lower(), str(prod_value).lower())}
        if isinstance(dev_value, int) and not isinstance(dev_value, bool):
            renderings.add((dev_value / 1000, prod_value / 1000))
    unexplained = []
    dev, prod = normalise(synthesis.template("triage-dev"), "dev"), normalise(synthesis.template("triage-prod"), "prod")
    for path, dev_value, prod_value in differences(dev, prod):
        if path.startswith("/Resources/AlarmsDriftVerdictMissing") and dev_value == "<absent>":
            assert fields["monitor_scheduled"] == (False, True)  # the silence alarm exists where the monitor runs
            continue
        hashable = not isinstance(dev_value, dict | list) and not isinstance(prod_value, dict | list)
        if hashable and (dev_value, prod_value) in renderings:
            continue
        if isinstance(dev_value, str) and isinstance(prod_value, str):  # a description quoting the values
            dev_parts, prod_parts = (re.split(r"(\d+(?:\.\d+)?)", v) for v in (dev_value, prod_value))
            if len(dev_parts) == len(prod_parts) and all(
                    a == b or (a, b) in renderings for a, b in zip(dev_parts, prod_parts, strict=True)):
                continue
        unexplained.append((path, dev_value, prod_value))
    assert not unexplained, unexplained
    dev_rules, prod_rules = ({rule.replace(f"/{stage}/", "/STAGE/")
                              for rule in acknowledgments(synthesis.template(f"triage-{stage}"))} for stage in STAGES)
    assert fields["alb_deletion_protection"] == (False, True)
    assert dev_rules - prod_rules == {"HIPAA.Security-ELBDeletionProtectionEnabled"} and not prod_rules - dev_rules


def test_container_environment_passes_the_services_own_validation(synthesis):
    """The task definition's variables (plus stand-ins for the two secrets) are accepted by the service's Settings."""
    from triage_service.settings import Settings

    stages = infra_environments().STAGES
    for stage in STAGES:
        (definition,) = resources_of(synthesis.template(f"triage-{stage}"), "AWS::ECS::TaskDefinition").values()
        (container,) = definition["Properties"]["ContainerDefinitions"]
        environ = {v["Name"]: render(v["Value"]) for v in container["Environment"]}
        environ.update({"TRIAGE_API_KEYS": "k" * 40, "TRIAGE_PSEUDONYM_KEY": "p" * 48})
        settings = Settings.from_env(environ)
        assert settings.env == stage and settings.bucket and settings.model_dir is None
        assert (settings.host, settings.port) == ("0.0.0.0", container["PortMappings"][0]["ContainerPort"])
        assert settings.log_push_interval_s == stages[stage].log_push_interval_s
        assert "TRIAGE_S3_ENDPOINT" not in environ  # AWS S3 itself


def test_service_health_check_https_autoscaling_and_logs(synthesis):
    stages = infra_environments().STAGES
    for stage in STAGES:
        template = synthesis.template(f"triage-{stage}")
        (group,) = resources_of(template, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
        assert group["Properties"]["HealthCheckPath"] == "/readyz"
        listeners = {listener["Properties"]["Port"]: listener["Properties"]
                     for listener in resources_of(template, "AWS::ElasticLoadBalancingV2::Listener").values()}
        assert listeners[443]["Protocol"] == "HTTPS"
        assert listeners[443]["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
        assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
        (target,) = resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
        assert target["Properties"]["MinCapacity"]["Fn::If"][1:] == [stages[stage].min_tasks, 0]
        assert target["Properties"]["MaxCapacity"]["Fn::If"][1:] == [stages[stage].max_tasks, 0]
        policies = resources_of(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        metrics = {p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"] for p in policies}
        assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
        (logs,) = resources_of(template, "AWS::Logs::LogGroup").values()
        assert logs["Properties"]["RetentionInDays"] == stages[stage].log_retention_days
        assert "KmsKeyId" in logs["Properties"]


def test_alarms_and_the_drift_metric(synthesis):
    environments = infra_environments()
    for stage in STAGES:
        template = synthesis.template(f"triage-{stage}")
        alarms = {k.removeprefix("Alarms")[:-8]: a["Properties"]  # logical id: Alarms<Name><8-hex hash>
                  for k, a in resources_of(template, "AWS::CloudWatch::Alarm").items()}
        expected = {"ErrorRate", "LatencyP99", "UnhealthyTasks", "Drift"}
        if environments.STAGES[stage].monitor_scheduled:
            expected.add("DriftVerdictMissing")
        assert set(alarms) == expected
        topic = next(iter(resources_of(template, "AWS::SNS::Topic")))
        for alarm in alarms.values():
            assert alarm["AlarmActions"] == [{"Ref": topic}]
        drift = alarms["Drift"]
        assert (drift["Namespace"], drift["MetricName"]) == (environments.DRIFT_NAMESPACE, environments.DRIFT_METRIC)
        assert drift["Dimensions"] == [{"Name": environments.DRIFT_DIMENSION, "Value": stage}]
        assert alarms["LatencyP99"]["ExtendedStatistic"] == "p99"
        assert alarms["UnhealthyTasks"]["MetricName"] == "UnHealthyHostCount"
        assert "5xx" in alarms["ErrorRate"]["AlarmDescription"]


@pytest.mark.parametrize("stack", STACKS)
def test_github_roles_trust_only_this_repository(synthesis, stack):
    for logical, role in resources_of(synthesis.template(stack), "AWS::IAM::Role").items():
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if "Federated" not in statement["Principal"]:
            continue
        condition = statement["Condition"]
        assert condition["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
        subjects = as_list(condition["StringLike"]["token.actions.githubusercontent.com:sub"])
        assert all(s.startswith(f"repo:{TEST_REPOSITORY}:") for s in subjects), subjects
        assert not any(s.endswith(":*") for s in subjects), subjects
        if stack != "triage-shared":  # a stage's publish and deploy roles: that GitHub environment only
            assert subjects == [f"repo:{TEST_REPOSITORY}:environment:{stack.split('-')[1]}"], (logical, subjects)
