"""The cloud path end to end on this machine: `dvc repro` under the `standin` compute profile submits the Spark
stages with spark-submit to the project's standalone cluster (two workers on 127.0.0.1) and the training stage as a
subprocess, from the same job specification the cloud gets (inputs and outputs through the jobs prefix, here on
SeaweedFS). The outputs, and so dvc.lock, are those of a run on this machine, byte for byte; a job past its timeout
is cancelled and nothing is recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from triage.tooling.s3server import LocalS3, free_port
from triage.tooling.spark_cluster import StandaloneCluster

from ..conftest import commit_all, run

pytestmark = pytest.mark.slow
SPARK_STAGES = ("ingest", "validate", "split")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StandaloneCluster(tmp_path_factory.mktemp("spark"), workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def object_store(tmp_path_factory):
    server = LocalS3(tmp_path_factory.mktemp("s3"), port=free_port(), bucket="triage")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def spark_workspace(pipeline_workspace, cluster, tmp_path_factory) -> Path:
    """A copy of the small pipeline's repository with the data stages on the Spark executor, reproduced here on the
    cluster and committed: the reference the cloud path must match."""
    repo = tmp_path_factory.mktemp("standin") / "repo"
    shutil.copytree(pipeline_workspace, repo, symlinks=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["executor"] = {"engine": "spark", "master": cluster.master_url}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", "train"], repo)
    commit_all(repo, "data stages on Spark")
    return repo


def standin_env(object_store, tmp_path) -> dict:
    return {**object_store.environment(), "TRIAGE_COMPUTE": "standin", "TRIAGE_JOBS_URI": "s3://triage/jobs",
            "TRIAGE_STANDIN_LOG_DIR": str(tmp_path / "standin-logs")}


def test_standin_jobs_leave_the_outputs_and_dvc_lock_of_a_local_run(spark_workspace, object_store, tmp_path):
    """Byte for byte: the jobs' drivers and executors are other JVMs than the reference run's, and dvc.lock is the
    same file."""
    repo = spark_workspace
    lock = (repo / "dvc.lock").read_text()
    env = standin_env(object_store, tmp_path)
    outputs = {}
    for stage in (*SPARK_STAGES, "train"):
        result = run(["dvc", "repro", "-f", "-s", stage], repo, env)
        target = "spark" if stage in SPARK_STAGES else "training"
        assert f"stand-in {target} job" in result.stdout and "SUCCEEDED" in result.stdout, result.stdout[-2000:]
        assert "  | job " in result.stdout  # the job's own log, streamed while it ran
        outputs[stage] = result.stdout
    assert "output file(s) in place, sha256 checked" in outputs["split"]
    assert (repo / "dvc.lock").read_text() == lock


def test_a_job_past_its_timeout_is_cancelled_and_nothing_is_recorded(spark_workspace, object_store, tmp_path):
    repo = spark_workspace
    params_file = repo / "params.yaml"
    original, lock = params_file.read_text(), (repo / "dvc.lock").read_text()
    params = yaml.safe_load(original)
    params["compute"]["training"]["timeout_minutes"] = 0.03  # about 2 s: training takes far longer
    params["compute"]["poll_seconds"] = 0.5
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        result = run(["dvc", "repro", "-f", "-s", "train"], repo, standin_env(object_store, tmp_path), check=False)
    finally:
        params_file.write_text(original)
    assert result.returncode != 0
    assert "exceeded its timeout of 0.03 min and was cancelled" in result.stderr + result.stdout
    assert (repo / "dvc.lock").read_text() == lock
