"""The workflows and the infrastructure agree: every `vars.X` a workflow reads is a stack output, in the scope
(repository or GitHub environment) the job can see; the roles a job assumes trust the OIDC subject that job's token
carries; the monitor publishes exactly the metric the drift alarm watches; the deploy pushes to the stack's ECR
repository with immutable commit-sha tags.

Mapping (infra/triage_infra/outputs.py): output id = the variable in CamelCase (AWS_ROLE_CI -> AwsRoleCi); its
description starts "GitHub repository variable NAME" (shared and compute stacks) or "GitHub environment variable
NAME" (each stage's stack).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, REPOSITORY_STACKS, STAGES, infra_environments, resources_of

WORKFLOWS = {path.name: path for path in sorted((REPO / ".github/workflows").glob("*.yml"))}
VARIABLE = re.compile(r"\$\{\{\s*vars\.([A-Z0-9_]+)\s*\}\}")
SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Z0-9_]+)\s*\}\}")
NOT_FROM_AWS = {"GITHUB_TOKEN", "BOT_TOKEN"}  # GitHub's own token and the bot's personal token


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))
    return document


def output_id(variable: str) -> str:
    return "".join(part.capitalize() for part in variable.lower().split("_"))


def declared(synthesis) -> dict[str, dict[str, str]]:
    """scope ("repository"/"environment") -> {variable: output id}, from the outputs' descriptions."""
    found: dict[str, dict[str, str]] = {"repository": {}, "environment": {}}
    per_stage: dict[str, set[str]] = {}
    for stack in (*REPOSITORY_STACKS, *(f"triage-{s}" for s in STAGES)):
        for key, output in synthesis.template(stack).get("Outputs", {}).items():
            match = re.match(r"GitHub (repository|environment) variable ([A-Z0-9_]+): ", output.get("Description", ""))
            if match:
                scope, variable = match.groups()
                assert key == output_id(variable), (stack, key, variable)
                assert (scope == "repository") == (stack in REPOSITORY_STACKS), (stack, variable)
                found[scope][variable] = key
                if scope == "environment":
                    per_stage.setdefault(stack, set()).add(variable)
    assert len(set(map(frozenset, per_stage.values()))) == 1, per_stage  # every stage produces the same variables
    return found


def job_variables(job: dict) -> set[str]:
    return set(VARIABLE.findall(yaml.safe_dump(job)))


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict]:
    return {name: load(path) for name, path in WORKFLOWS.items()}


def test_every_variable_a_workflow_reads_is_a_stack_output_the_job_can_see(synthesis, workflows):
    produced = declared(synthesis)
    used: set[str] = set()
    for name, workflow in workflows.items():
        for job_name, job in workflow["jobs"].items():
            for variable in job_variables(job):
                used.add(variable)
                if variable in produced["environment"]:
                    assert "environment" in job, f"{name}/{job_name} reads environment variable {variable} " \
                                                 "but declares no GitHub environment"
                else:
                    assert variable in produced["repository"], \
                        f"{name}/{job_name}: vars.{variable} is not produced by any stack output"
    unused = (set(produced["repository"]) | set(produced["environment"])) - used
    assert not unused, f"stack outputs no workflow reads: {unused}"


def test_secrets_the_workflows_read_come_from_the_stacks_or_github(synthesis, workflows):
    outputs = synthesis.template("triage-shared")["Outputs"]
    from_stack = {m.group(1) for o in outputs.values()
                  if (m := re.match(r"GitHub repository secret ([A-Z0-9_]+): ", o.get("Description", "")))}
    used = {s for workflow in workflows.values() for s in SECRET.findall(yaml.safe_dump(workflow))}
    assert used - NOT_FROM_AWS <= from_stack, used - NOT_FROM_AWS - from_stack
    assert "TRIAGE_PSEUDONYM_KEY" in from_stack


def roles_assumed(job: dict) -> list[str]:
    return [VARIABLE.search(step["with"]["role-to-assume"]).group(1) for step in job.get("steps", [])
            if "configure-aws-credentials" in step.get("uses", "")]


def trust_subjects(synthesis, variable: str) -> list[str]:
    """The OIDC subjects the role behind `variable` accepts (dev's stack for environment-scoped roles)."""
    for stack in ("triage-shared", "triage-dev"):
        template = synthesis.template(stack)
        output = template.get("Outputs", {}).get(output_id(variable))
        if output:
            role = output["Value"]["Fn::GetAtt"][0]
            (statement,) = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            subjects = statement["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]
            return subjects if isinstance(subjects, list) else [subjects]
    raise AssertionError(f"no stack output for {variable}")


def test_each_job_assumes_a_role_that_trusts_its_token(synthesis, workflows):
    """A job with `environment:` gets the subject repo:R:environment:E, any other job repo:R:<event or ref>;
    a role trusting one kind can never be assumed by a job of the other kind."""
    for name, workflow in workflows.items():
        for job_name, job in workflow["jobs"].items():
            for variable in roles_assumed(job):
                subjects = trust_subjects(synthesis, variable)
                by_environment = all(":environment:" in s for s in subjects)
                assert by_environment == ("environment" in job), (name, job_name, variable, subjects)
    monitor = trust_subjects(synthesis, "AWS_ROLE_MONITOR")
    assert [s.split(":", 2)[2] for s in monitor] == ["ref:refs/heads/main"]  # where scheduled runs happen
    ci = {s.split(":", 2)[2] for s in trust_subjects(synthesis, "AWS_ROLE_CI")}
    assert ci == {"pull_request", "ref:refs/heads/main", "ref:refs/heads/develop", "ref:refs/tags/triage-model*"}


def test_monitor_publishes_the_metric_the_drift_alarm_watches(synthesis, workflows):
    environments = infra_environments()
    steps = [s for s in workflows["monitor.yml"]["jobs"]["monitor"]["steps"] if "put-metric-data" in s.get("run", "")]
    assert len(steps) == 1
    words = shlex.split(steps[0]["run"].split("put-metric-data", 1)[1].replace("\\\n", " "))
    options = dict(zip(words[::2], words[1::2], strict=False))
    assert options["--namespace"] == environments.DRIFT_NAMESPACE
    assert options["--metric-name"] == environments.DRIFT_METRIC
    assert options["--dimensions"] == f"{environments.DRIFT_DIMENSION}=$TRIAGE_ENV_NAME"
    for stage in STAGES:
        alarms = resources_of(synthesis.template(f"triage-{stage}"), "AWS::CloudWatch::Alarm").values()
        watched = {(a["Properties"].get("Namespace"), a["Properties"].get("MetricName")) for a in alarms}
        assert (environments.DRIFT_NAMESPACE, environments.DRIFT_METRIC) in watched
    statements = [s for r in resources_of(synthesis.template("triage-shared"), "AWS::IAM::ManagedPolicy").values()
                  for s in r["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "cloudwatch:PutMetricData"]
    assert [s["Condition"] for s in statements] == [
        {"StringEquals": {"cloudwatch:namespace": environments.DRIFT_NAMESPACE}}]


def test_deploy_pushes_to_the_stacks_repository_with_immutable_sha_tags(synthesis, workflows):
    jobs = workflows["deploy.yml"]["jobs"]
    assert "image" not in jobs  # no second registry: ECR is the one the service pulls from
    deploy = jobs["deploy"]
    uses = [step["uses"] for step in deploy["steps"] if "uses" in step]
    assert any(re.fullmatch(r"aws-actions/amazon-ecr-login@v\d+\.\d+\.\d+", u) for u in uses), uses
    (script,) = [step for step in deploy["steps"] if "run" in step]
    assert script["env"]["ECR_REPOSITORY"] == "${{ vars.ECR_REPOSITORY }}"
    assert 'image="${ECR_REPOSITORY}:${GITHUB_SHA}"' in script["run"]
    assert "docker push \"$image\"" in script["run"] and ":latest" not in script["run"]
    assert "--task-definition \"$revision\"" in script["run"]
    (repository,) = resources_of(synthesis.template("triage-dev"), "AWS::ECR::Repository").values()
    assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"
    assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert roles_assumed(jobs["publish"]) == ["AWS_ROLE_PUBLISH"] and roles_assumed(deploy) == ["AWS_ROLE_DEPLOY"]
    container = synthesis.template("triage-dev")["Outputs"]["EcsContainer"]["Value"]
    (definition,) = resources_of(synthesis.template("triage-dev"), "AWS::ECS::TaskDefinition").values()
    assert [c["Name"] for c in definition["Properties"]["ContainerDefinitions"]] == [container]
