"""Extracts in the bucket: `data.raw_dir: s3://bucket/prefix` against a real SeaweedFS on loopback.

The stages read the objects as streams (no copy on disk first) and write the same rows as from the same files on
disk, on the local executor and on Spark; DVC tracks the objects as the ingest stage's external dependency, so a
changed extract in the bucket makes `dvc status` report ingest, and `dvc repro` reads it again."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from triage.data.extracts import list_extracts
from triage.data.ingest import extract_key
from triage.data.locations import location, object_store
from triage.executors.local import LocalExecutor
from triage.executors.spark import SparkExecutor
from triage.simulation.mess import as_text
from triage.tooling.s3server import LocalS3, free_port

from ..conftest import SMALL_PIPELINE, copy_repository, run, s3_client_of
from ..executors.test_equivalence import hostile_extracts

pytestmark = pytest.mark.slow
KEY = "remote-extracts-test-key"
PREFIX = "raw/hospital"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = LocalS3(tmp_path_factory.mktemp("s3"), port=free_port(), bucket="triage")
    instance.start()
    with pytest.MonkeyPatch.context() as patch:  # pyarrow's S3 filesystem and DVC read the standard variables
        for name, value in instance.environment().items():
            patch.setenv(name, value)
        object_store.cache_clear()
        yield instance
    object_store.cache_clear()
    instance.stop()


def upload(server, files: list[Path], prefix: str) -> str:
    client = s3_client_of(server)
    for path in files:
        client.put_object(Bucket=server.bucket, Key=f"{prefix}/{path.name}", Body=path.read_bytes())
    return f"s3://{server.bucket}/{prefix}"


@pytest.fixture(scope="module")
def extracts(clean_cohort, tmp_path_factory) -> list[Path]:
    return hostile_extracts(clean_cohort, tmp_path_factory.mktemp("hostile") / "raw")


def stages(executor, paths, contract, params, out: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    key, simulated = extract_key(paths, KEY)
    stats = executor.ingest(paths, contract, key, out / "ingested.parquet", simulated, progress=lambda _: None)
    _, quarantine, accounting = executor.validate(out / "ingested.parquet", contract, stats, 0.5,
                                                  out / "clean.parquet")
    return pd.read_parquet(out / "clean.parquet"), quarantine, accounting


def without_sources(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in record order, without where they came from (a path on disk, a URI in the bucket)."""
    return frame.sort_values("record_order").drop(columns=["record_id"]).reset_index(drop=True).astype(str)


def test_objects_in_the_bucket_give_the_rows_the_files_give(server, extracts, contract, params, tmp_path):
    uri = upload(server, extracts, PREFIX)
    remote = list_extracts(location(uri))
    assert remote == [f"{uri}/{path.name}" for path in extracts]
    on_disk = stages(LocalExecutor(batch_rows=300), extracts, contract, params, tmp_path / "disk")
    in_bucket = stages(LocalExecutor(batch_rows=300), remote, contract, params, tmp_path / "bucket")
    assert without_sources(on_disk[0]).equals(without_sources(in_bucket[0]))
    assert on_disk[1]["reasons"].tolist() == in_bucket[1]["reasons"].tolist()
    assert in_bucket[1]["record_id"].str.startswith(uri).all()
    assert {k: v for k, v in on_disk[2].items() if k != "extracts"} == \
        {k: v for k, v in in_bucket[2].items() if k != "extracts"}
    spark = stages(SparkExecutor(master="local[2]", batch_rows=300), remote, contract, params, tmp_path / "spark")
    assert without_sources(spark[0]).equals(without_sources(in_bucket[0])) and spark[2] == in_bucket[2]


def test_a_missing_prefix_is_refused_naming_it(server):
    from triage.data.extracts import ExtractError

    with pytest.raises(ExtractError, match="no extracts .* under s3://triage/raw/nowhere"):
        list_extracts(location("s3://triage/raw/nowhere"))


def test_dvc_tracks_the_objects_and_reingests_a_changed_one(server, clean_cohort, tmp_path):
    """`dvc repro` with data.raw_dir in the bucket; an object rewritten in the bucket makes ingest stale."""
    site = tmp_path / "files"
    site.mkdir()
    as_text(clean_cohort.head(400)).to_csv(site / "site_a.csv", index=False)
    as_text(clean_cohort.iloc[400:800]).to_csv(site / "site_b.csv", index=False)
    uri = upload(server, sorted(site.iterdir()), "raw/dvc-test")
    repo = copy_repository(tmp_path / "repo", {**SMALL_PIPELINE, ("data", "raw_dir"): uri})
    environment = {**server.environment(), "TRIAGE_PSEUDONYM_KEY": KEY}
    run(["dvc", "repro", "validate"], repo, env=environment)
    assert "Data and pipelines are up to date" in run(["dvc", "status", "validate"], repo, env=environment).stdout
    lock = (repo / "dvc.lock").read_text()
    assert f"path: {uri}" in lock
    as_text(clean_cohort.iloc[800:1000]).to_csv(site / "site_b.csv", index=False)
    upload(server, [site / "site_b.csv"], "raw/dvc-test")
    status = run(["dvc", "status", "ingest"], repo, env=environment).stdout
    assert "ingest" in status and "changed deps" in status
    run(["dvc", "repro", "validate"], repo, env=environment)
    accounting = (repo / "reports/validation.json").read_text()
    assert '"rows_in": 600' in accounting
