"""The cloud path end to end on this machine: `dvc repro` under the `standin` compute profile submits the Spark
stages with spark-submit to the project's standalone cluster (two workers on 127.0.0.1) and the training stage as a
subprocess, from the same job specification the cloud gets (inputs and outputs through the jobs prefix, here on
SeaweedFS). The data stages keep their rows in the bucket (`data.executor.store`), as an EMR Serverless job must. The
outputs, and so dvc.lock, are those of a run on this machine, byte for byte; a job past its timeout is cancelled and
nothing is recorded; `dvc push`, `dvc pull` and `dvc exp run` work with the rows in the bucket."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from triage.data import parts
from triage.tooling.s3server import LocalS3, free_port
from triage.tooling.spark_cluster import StandaloneCluster

from ..conftest import commit_all, run

pytestmark = pytest.mark.slow
SPARK_STAGES = ("ingest", "validate", "split")
STORE = "s3://triage/stages"


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
def spark_workspace(pipeline_workspace, cluster, object_store, tmp_path_factory) -> Path:
    """A copy of the small pipeline's repository with the data stages on the Spark executor, their rows in the
    bucket, reproduced here on the cluster and committed: the reference the cloud path must match."""
    repo = tmp_path_factory.mktemp("standin") / "repo"
    shutil.copytree(pipeline_workspace, repo, symlinks=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["executor"] = {"engine": "spark", "master": cluster.master_url, "store": STORE}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", "train"], repo, object_store.environment())
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


def test_dvc_push_pull_and_exp_with_the_rows_in_the_bucket(spark_workspace, pipeline_workspace, object_store,
                                                           monkeypatch):
    """The training part is a manifest of parts in the bucket, and resample read the local run's rows from it (its
    file is the local run's, byte for byte); `dvc push` sends the manifests; `dvc pull`, after the cache and the
    output are removed, gets them back and they read the same rows; `dvc exp run` of the split with another test
    share writes a smaller training part, in the bucket too."""
    repo, env = spark_workspace, object_store.environment()
    for name, value in env.items():  # this process reads the parts too
        monkeypatch.setenv(name, value)
    resampled = "data/processed/train_resampled.parquet"
    assert (repo / resampled).read_bytes() == (pipeline_workspace / resampled).read_bytes()
    train = repo / "data/processed/train.parquet"
    assert [path.name for path in train.iterdir()] == [parts.MANIFEST]
    assert all(entry["object"].startswith(f"{STORE}/parts/") for entry in parts.read_manifest(train)["parts"])
    rows = parts.read_frame(train)
    run(["dvc", "remote", "add", "-f", "-d", "bucket", "s3://triage/dvc"], repo)
    run(["dvc", "remote", "modify", "bucket", "endpointurl", object_store.endpoint], repo)
    run(["dvc", "push"], repo, env)
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(train)
    run(["dvc", "pull"], repo, env)
    assert parts.read_frame(train).equals(rows)
    assert "up to date" in run(["dvc", "status", "split"], repo, env).stdout.lower()  # (train: the timeout test)
    run(["dvc", "exp", "run", "split", "-S", "split.test_size=0.3", "--name", "larger-test"], repo, env)
    assert "larger-test" in run(["dvc", "exp", "show", "--csv"], repo, env).stdout
    assert 0 < len(parts.read_frame(train)) < len(rows)
