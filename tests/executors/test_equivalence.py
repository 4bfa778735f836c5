"""Same data, same result, either engine: hostile extracts (a malformed row, a formula, a visit id used twice,
exact duplicates across two extracts, a near duplicate re-exported with other spellings) through the data stages'
executors — the local one (streamed batches, DuckDB) and Spark on a real standalone cluster (a master and two
workers on 127.0.0.1, started by the project's own tooling) — give the same clean rows, the same quarantine with the
same reasons, the same accounting and the same split membership. A worker killed while the ingest runs costs its
tasks a retry, never a row."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage.data.columns import PATIENT_ID, VISIT_ID
from triage.data.extracts import list_extracts
from triage.data.ingest import extract_key
from triage.executors.local import LocalExecutor
from triage.executors.spark import SparkExecutor
from triage.simulation.mess import as_text
from triage.tooling.spark_cluster import StandaloneCluster

pytestmark = pytest.mark.slow
KEY = "equivalence-test-key"
PARTS = ("train", "valid", "test")
KILL_AFTER = 3.0  # seconds into the ingest job


def hostile_extracts(clean_cohort: pd.DataFrame, directory: Path) -> list[Path]:
    """Four extracts of one cohort: overlapping rows (exact duplicates across files), a near duplicate (the same
    visit with other spellings), a visit id used by two different rows, a malformed row, a formula."""
    text = as_text(clean_cohort.head(2400)).astype(object)
    near = text.iloc[[5]].copy()
    near["sex"] = near["sex"].map({"M": "male", "F": "female"}).fillna(near["sex"])  # a listed spelling
    twin = text.iloc[[7]].copy()
    twin["age_years"] = "41"
    twin.loc[:, "visit_id"] = text.iloc[8]["visit_id"]  # another row's visit id
    formula = text.iloc[[9]].copy()
    formula["age_years"] = "=HYPERLINK(\"http://x\")"
    directory.mkdir(parents=True)
    pd.concat([text.iloc[:700], near, twin]).to_csv(directory / "site_a.csv", index=False)
    pd.concat([text.iloc[600:1300], formula]).to_parquet(directory / "site_b.parquet", index=False)
    text.iloc[1300:1900].to_csv(directory / "site_c.csv", index=False)
    with open(directory / "site_c.csv", "a", encoding="utf-8") as handle:
        handle.write("only,three,fields\n")  # malformed: quarantined with its fault, never a duplicate
    text.iloc[1850:].to_parquet(directory / "site_d.parquet", index=False)
    return list_extracts(directory)


def run_stages(executor, paths: list[Path], contract, params, out: Path) -> dict:
    key, simulated = extract_key(paths, KEY)
    stats = executor.ingest(paths, contract, key, out / "ingested.parquet", simulated, progress=lambda _: None)
    _, quarantine, accounting = executor.validate(out / "ingested.parquet", contract, stats, 0.5,
                                                  out / "clean.parquet")
    _, profile = executor.split(out / "clean.parquet", contract, params["split"], params["base"]["seed"], set(),
                                {part: out / f"{part}.parquet" for part in PARTS})
    return {"quarantine": quarantine, "accounting": accounting, "profile": profile, "out": out}


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in record order, values as text (a folder of Spark parts and one file compare alike)."""
    frame = frame.sort_values("record_id" if "record_order" not in frame else "record_order", kind="stable")
    return frame.reset_index(drop=True).astype(str)


@pytest.fixture(scope="module")
def extracts(clean_cohort, tmp_path_factory) -> list[Path]:
    return hostile_extracts(clean_cohort, tmp_path_factory.mktemp("hostile") / "raw")


@pytest.fixture(scope="module")
def local_run(extracts, contract, params, tmp_path_factory) -> dict:
    return run_stages(LocalExecutor(batch_rows=250), extracts, contract, params, tmp_path_factory.mktemp("local"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StandaloneCluster(tmp_path_factory.mktemp("spark"), workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def spark_run(cluster, extracts, contract, params, tmp_path_factory) -> dict:
    executor = SparkExecutor(master=cluster.master_url, batch_rows=250)
    return run_stages(executor, extracts, contract, params, tmp_path_factory.mktemp("spark-run"))


def test_the_hostile_rows_are_there(local_run):
    accounting = local_run["accounting"]
    assert accounting["rows_exact_duplicate"] >= 150 and accounting["rows_near_duplicate"] == 1
    reasons = " ".join(local_run["quarantine"]["reasons"])
    assert "field_uniqueness" in reasons and "(row)" in reasons and "age_years" in reasons
    assert accounting["rows_in"] == accounting["rows_clean"] + accounting["rows_quarantined"] + \
        accounting["rows_duplicate"]


def test_both_engines_write_the_same_clean_rows_and_parts(local_run, spark_run):
    for name in ("clean", *PARTS):
        local = canonical(pd.read_parquet(local_run["out"] / f"{name}.parquet"))
        spark = canonical(pd.read_parquet(spark_run["out"] / f"{name}.parquet"))
        assert len(local) > 0 and local.equals(spark), name
    for part in PARTS:  # the split's membership, by patient
        patients = [set(pd.read_parquet(run["out"] / f"{part}.parquet")[PATIENT_ID]) for run in (local_run, spark_run)]
        assert patients[0] == patients[1]


def test_both_engines_quarantine_the_same_rows_for_the_same_reasons(local_run, spark_run):
    local, spark = canonical(local_run["quarantine"]), canonical(spark_run["quarantine"])
    assert len(local) >= 4 and local[["record_id", "reasons"]].equals(spark[["record_id", "reasons"]])
    assert local_run["accounting"] == spark_run["accounting"]
    assert local_run["profile"] == spark_run["profile"]


def test_a_worker_killed_during_ingest_loses_and_duplicates_nothing(cluster, extracts, contract, params, local_run,
                                                                     tmp_path):
    """SIGKILL one worker while the ingest job runs: its tasks are retried on the survivor, and the rows written are
    the local executor's, exactly."""
    executor = SparkExecutor(master=cluster.master_url, batch_rows=25)  # small batches: tasks of several seconds
    executor.session()  # the application and its executors are up before the clock starts
    victim = next(worker for worker in cluster.state.workers if worker.alive())
    killer = threading.Timer(KILL_AFTER, lambda: os.kill(victim.pid, signal.SIGKILL))
    killer.start()
    started = time.monotonic()
    try:
        key, simulated = extract_key(extracts, KEY)
        executor.ingest(extracts, contract, key, tmp_path / "ingested.parquet", simulated, progress=lambda _: None)
    finally:
        killer.cancel()
    assert time.monotonic() - started > KILL_AFTER, "the job ended before the worker was killed: nothing was tested"
    assert not victim.alive()
    local = canonical(pd.read_parquet(local_run["out"] / "ingested.parquet"))
    spark = canonical(pd.read_parquet(tmp_path / "ingested.parquet"))
    assert local.equals(spark) and spark[VISIT_ID].notna().all() and np.unique(spark["record_id"]).size == len(spark)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_second_spark_run_writes_the_same_files_byte_for_byte(cluster, extracts, contract, params, spark_run,
                                                                  tmp_path):
    """What DVC hashes: the same extracts give the same file names and bytes (no job UUID in a name, no _SUCCESS
    or .crc, rows in the same order, and no parquet-mr, which lists a column's encodings in a Java HashSet's order:
    the tasks of two runs land on either worker's JVM)."""
    executor = SparkExecutor(master=cluster.master_url, batch_rows=250)
    key, simulated = extract_key(extracts, KEY)
    stats = executor.ingest(extracts, contract, key, tmp_path / "ingested.parquet", simulated, progress=lambda _: None)
    executor.validate(tmp_path / "ingested.parquet", contract, stats, 0.5, tmp_path / "clean.parquet")
    for name in ("ingested.parquet", "clean.parquet"):
        first, second = folder_bytes(spark_run["out"] / name), folder_bytes(tmp_path / name)
        assert list(first) == [f"part-{i:05d}.parquet" for i in range(len(first))]
        assert first == second, name
