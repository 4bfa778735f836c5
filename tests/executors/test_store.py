"""Executors on other hosts: the Spark executor with `data.executor.store` on a real object store (SeaweedFS), on a
real standalone cluster whose workers cannot see the driver's files. Each worker runs in its own mount namespace
with an empty tmpfs over the driver's folder (extracts, outputs, DVC workspace), as a worker on another host would
see nothing of it. The data stages still give the local executor's rows, quarantine, accounting and split; the
stages' outputs are manifests naming parts in the bucket by their sha256; a second run writes the same manifests;
and without the store the same cluster fails, which shows the workers really are blind to the driver's files. DVC
with the rows in the bucket (repro, push, pull, exp) is tested with the cloud stand-in: tests/cloud/test_standin.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from triage.data import parts
from triage.executors.local import LocalExecutor
from triage.executors.spark import SparkExecutor
from triage.tooling.s3server import LocalS3, free_port
from triage.tooling.spark_cluster import Daemon, StandaloneCluster

from .test_equivalence import PARTS, canonical, hostile_extracts, run_stages

pytestmark = pytest.mark.slow
STORE = "s3://triage/stages"


class BlindWorkersCluster(StandaloneCluster):
    """A standalone cluster whose workers (and so their executors and Python workers) see an empty folder where
    the driver keeps its files."""

    def __init__(self, root: Path, hidden: Path, **options) -> None:
        self.hidden = hidden
        super().__init__(root, **options)

    def daemon_command(self, daemon: Daemon) -> list[str]:
        command = super().daemon_command(daemon)
        if daemon is self.state.master:
            return command
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount -t tmpfs blind "$0" && exec "$@"',
                str(self.hidden), *command]


def can_hide_folders(probe: Path) -> bool:
    probe.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             f'mount -t tmpfs blind "{probe}"'], capture_output=True, check=False)
    return result.returncode == 0


@pytest.fixture(scope="module")
def driver_folder(tmp_path_factory) -> Path:
    """Everything the driver has: the workers see this folder empty."""
    return tmp_path_factory.mktemp("driver")


@pytest.fixture(scope="module")
def cluster(driver_folder, tmp_path_factory):
    """Blind workers where mount namespaces are available (root, unshare); else ordinary ones, and the control
    below is skipped: the store's results are still checked."""
    if can_hide_folders(driver_folder / "probe"):
        cluster = BlindWorkersCluster(tmp_path_factory.mktemp("spark"), driver_folder, workers=2)
    else:
        cluster = StandaloneCluster(tmp_path_factory.mktemp("spark"), workers=2)
    with cluster as running:
        yield running


@pytest.fixture(scope="module")
def object_store(tmp_path_factory, monkeypatch_module):
    server = LocalS3(tmp_path_factory.mktemp("s3"), port=free_port(), bucket="triage")
    server.start()
    for name, value in server.environment().items():
        monkeypatch_module.setenv(name, value)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def extracts(clean_cohort, driver_folder) -> list[Path]:
    return hostile_extracts(clean_cohort, driver_folder / "raw")


@pytest.fixture(scope="module")
def local_run(extracts, contract, params, driver_folder) -> dict:
    return run_stages(LocalExecutor(batch_rows=250), extracts, contract, params, driver_folder / "local")


@pytest.fixture(scope="module")
def store_run(cluster, object_store, extracts, contract, params, driver_folder) -> dict:
    executor = SparkExecutor(master=cluster.master_url, batch_rows=250, store=STORE)
    return run_stages(executor, extracts, contract, params, driver_folder / "store")


def stop_this_process_session() -> None:
    """This process's Spark application holds every core of the cluster while it lives: stopped, so the next
    session (another conf, or a stage's own process under `dvc repro`) gets them."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def test_blind_workers_cannot_run_the_stages_without_a_store(cluster, extracts, contract, params, driver_folder):
    """The control: the tasks cannot open the driver's extracts, so the job fails (the isolation is real)."""
    if not isinstance(cluster, BlindWorkersCluster):
        pytest.skip("no mount namespaces here (unshare --mount needs root): the workers see the driver's files")
    executor = SparkExecutor(master=cluster.master_url, batch_rows=250, conf={"spark.task.maxFailures": "1"})
    try:
        with pytest.raises(Exception, match="No such file|FileNotFoundError|does not exist"):
            run_stages(executor, extracts, contract, params, driver_folder / "no-store")
    finally:
        stop_this_process_session()  # its conf (one attempt per task) is not the other tests'


def test_with_a_store_blind_workers_give_the_local_executors_rows(local_run, store_run):
    for name in ("ingested", "clean", *PARTS):
        local = canonical(pd.read_parquet(local_run["out"] / f"{name}.parquet"))
        stored = canonical(parts.read_frame(store_run["out"] / f"{name}.parquet"))
        assert len(local) > 0 and local.equals(stored), name
    local, stored = canonical(local_run["quarantine"]), canonical(store_run["quarantine"])
    assert len(local) >= 4 and local[["record_id", "reasons"]].equals(stored[["record_id", "reasons"]])
    assert local_run["accounting"] == store_run["accounting"]
    assert local_run["profile"] == store_run["profile"]


def test_the_outputs_are_manifests_of_parts_in_the_bucket(store_run, object_store):
    for name in ("ingested", "clean", *PARTS):
        output = store_run["out"] / f"{name}.parquet"
        assert [path.name for path in output.iterdir()] == [parts.MANIFEST]
        manifest = parts.read_manifest(output)
        assert manifest["store"] == STORE and manifest["parts"]
        for entry in manifest["parts"]:
            assert entry["object"] == f"{STORE}/parts/{entry['sha256']}.parquet"
        assert manifest["rows"] == len(parts.read_frame(output)) == sum(e["rows"] for e in manifest["parts"])


def test_a_second_run_writes_the_same_manifests(cluster, object_store, extracts, contract, params, store_run,
                                                driver_folder):
    executor = SparkExecutor(master=cluster.master_url, batch_rows=250, store=STORE)
    second = run_stages(executor, extracts, contract, params, driver_folder / "store-again")
    for name in ("ingested", "clean", *PARTS):
        first_bytes = (store_run["out"] / f"{name}.parquet" / parts.MANIFEST).read_bytes()
        assert (second["out"] / f"{name}.parquet" / parts.MANIFEST).read_bytes() == first_bytes, name
