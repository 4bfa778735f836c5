"""The infrastructure app runs in its own virtualenv (infra/.venv, `make infra-setup`): these fixtures call it as a
subprocess and read what it writes (templates, reports), so the project's main venv never installs aws-cdk-lib."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# The service tests' fixtures: the small pipeline's model (model.onnx + manifest.json) and real test-part visits as
# API requests; the deploy test publishes that model into the emulated bucket.
from ..service.conftest import model_dir, test_records  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
INFRA_BIN = INFRA / ".venv" / "bin"
STACKS = ("triage-shared", "triage-dev", "triage-prod", "triage-compute")
REPOSITORY_STACKS = ("triage-shared", "triage-compute")  # their outputs are repository variables
STAGES = ("dev", "prod")
TEST_REPOSITORY = "acme/triage"  # the GitHub repository the test synthesis trusts (any OWNER/NAME)


def infra_tool(name: str) -> Path:
    """A program of infra/.venv; skipped (or failed under CI) when `make infra-setup` has not run."""
    tool = INFRA_BIN / name
    if not tool.exists():
        message = f"{tool} missing: run `make infra-setup` (creates infra/.venv from infra/requirements.txt)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return tool


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Synthesis:
    directory: Path
    seconds: float
    output: str

    def template(self, stack: str) -> dict:
        return json.loads((self.directory / f"{stack}.template.json").read_text())

    def template_path(self, stack: str) -> Path:
        return self.directory / f"{stack}.template.json"


def synthesize(directory: Path, context: dict[str, str] | None = None, extra_env: dict[str, str] | None = None,
               check: bool = True) -> tuple[subprocess.CompletedProcess, float]:
    """`python app.py` in infra/.venv with the context the CDK CLI would pass (CDK_CONTEXT_JSON)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CDK_", "AWS_"))},
           "CDK_OUTDIR": str(directory),
           "CDK_CONTEXT_JSON": json.dumps({"github_repository": TEST_REPOSITORY, **(context or {})}),
           **(extra_env or {})}
    started = time.monotonic()
    result = subprocess.run([str(infra_tool("python")), "app.py"], cwd=INFRA, env=env, capture_output=True,
                            text=True, timeout=600)
    seconds = time.monotonic() - started
    if check:
        assert result.returncode == 0, f"synthesis failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result, seconds


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory) -> Synthesis:
    """Both stages (and the shared stack) synthesized once per test session, with cdk-nag's two packs."""
    directory = tmp_path_factory.mktemp("cdk.out")
    result, seconds = synthesize(directory)
    return Synthesis(directory, seconds, result.stdout + result.stderr)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """moto's server mode on 127.0.0.1 and a free port (from infra/.venv); stopped at the end of the session."""
    server = infra_tool("moto_server")
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed after the process ends
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                               env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log_path.read_text(errors="replace")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError("moto_server did not start:\n" + log_path.read_text(errors="replace")) from None
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def infra_environments():
    """infra/triage_infra/environments.py (standard library only), loaded without importing aws_cdk."""
    import importlib.util
    import sys

    name = "triage_infra_environments"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, INFRA / "triage_infra" / "environments.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def acknowledgments(template: dict) -> dict[str, set[str]]:
    """cdk-nag acknowledgments written into the template (rule id -> reasons), CDK's own validator's excluded."""
    found: dict[str, set[str]] = {}
    for resource in template["Resources"].values():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            if not rule["id"].startswith("CloudFormation-Validate::"):
                found.setdefault(rule["id"], set()).add(rule["reason"])
    return found


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {logical: r for logical, r in template["Resources"].items() if r["Type"] == kind}
