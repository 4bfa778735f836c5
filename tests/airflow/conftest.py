"""Fixtures of the batch-intake tests: the Airflow virtualenv (airflow/.venv, `make airflow-setup`) and its home,
a real SeaweedFS on free loopback ports, and the working clone the intake lands in and retrains (a copy of the small
pipeline workspace with a first model registered and promoted to dev)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from triage.tooling.s3server import LocalS3, free_port

from ..conftest import REPO, commit_all, run, s3_client_of

AIRFLOW_PYTHON = REPO / "airflow" / ".venv" / "bin" / "python"
RUNNER = Path(__file__).with_name("airflow_runner.py")
KEY = "intake-test-key-not-a-secret"  # the pseudonymisation key the connection holds in these tests
THRESHOLD = 1000  # intake.retrain_min_new_rows in the working clone
IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


@pytest.fixture(scope="session")
def airflow_python() -> Path:
    if not AIRFLOW_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{AIRFLOW_PYTHON} is missing: `make airflow-setup` (make test builds it) must run first")
        pytest.skip("no Airflow virtualenv here: `make airflow-setup` builds airflow/.venv")
    return AIRFLOW_PYTHON


@pytest.fixture(scope="session")
def airflow_env(airflow_python, tmp_path_factory) -> dict[str, str]:
    """AIRFLOW_HOME in a temporary directory (SQLite), this repository's dags/, no examples; the database migrated."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "AWS_", "TRIAGE_")) and key != "VIRTUAL_ENV"}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"})
    result = subprocess.run([str(airflow_python), "-m", "airflow", "db", "migrate"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return env


def run_airflow(env: dict[str, str], *args: str, timeout: float = 600) -> tuple[dict, str]:
    """airflow_runner.py in the Airflow venv: its RESULT line and the whole output (the tasks' logs)."""
    result = subprocess.run([str(AIRFLOW_PYTHON), str(RUNNER), *args], env=env, capture_output=True, text=True,
                            timeout=timeout, cwd=env.get("AIRFLOW_HOME"))
    output = result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, output[-6000:]
    return json.loads(lines[-1].removeprefix("RESULT ")), output


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = LocalS3(tmp_path_factory.mktemp("s3"), port=free_port(), bucket="triage")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_client(s3):
    return s3_client_of(s3)


@pytest.fixture(scope="module")
def working_clone(pipeline_workspace, tmp_path_factory, s3) -> Path:
    """The worker's clone: the small pipeline, the intake's threshold, the DVC remote on the test server, and a first
    model (v1.0.0) registered and promoted to dev, as a deployment has."""
    clone = tmp_path_factory.mktemp("worker") / "clone"
    shutil.copytree(pipeline_workspace, clone, symlinks=True)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["intake"]["retrain_min_new_rows"] = THRESHOLD
    # These tests are about the orchestration, not the model: the small cohort has ~35 orphan test cases, so the
    # bootstrap lower bound of orphan recall (0.91 here) moves by several points with 700 rows added, and the
    # product's 0.90 would fail or pass the retrain by chance. The failing gate has its own test (tests/e2e).
    params["gate"]["min_orphan_recall_lower"] = 0.75
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for key, value in (("endpointurl", s3.endpoint), ("access_key_id", s3.credentials.access_key),
                       ("secret_access_key", s3.credentials.secret_key)):
        run(["dvc", "remote", "modify", "--local", "s3", key, value], clone)
    commit_all(clone, "the first model, trained on the small cohort")
    run(["dvc", "push", "-q", "-r", "s3"], clone)
    run(["gto", "register", "triage-model", "--version", "v1.0.0"], clone, env=IDENTITY)
    run(["gto", "assign", "triage-model", "--version", "v1.0.0", "--stage", "dev"], clone, env=IDENTITY)
    return clone


@pytest.fixture(scope="module")
def dag_env(airflow_env, s3, working_clone) -> dict[str, str]:
    """What a worker has: the two connections (as AIRFLOW_CONN_* variables, one of the secret backends), the clone,
    the bucket and the project's tools."""
    bucket = {"conn_type": "aws", "login": s3.credentials.access_key, "password": s3.credentials.secret_key,
              "extra": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"}}
    return {**airflow_env, "AIRFLOW_CONN_TRIAGE_S3": json.dumps(bucket),
            "AIRFLOW_CONN_TRIAGE_PSEUDONYM_KEY": json.dumps({"conn_type": "generic", "password": KEY}),
            "TRIAGE_INTAKE_CLONE": str(working_clone), "TRIAGE_BUCKET": s3.bucket,
            "TRIAGE_TOOLS_BIN": str(Path(sys.executable).parent), "TRIAGE_INTAKE_RETRIES": "0"}
