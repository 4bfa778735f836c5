"""SQL once, three engines: the same extraction (one query, rendered by sqlglot) on DuckDB over the example CDM's CSV
tables, on a real PostgreSQL server (started by the project's own tooling) holding the same tables, and as Spark SQL
over the same files, compared row for row, with the same exclusion counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from triage.contract import load_contract
from triage.data.omop.example import write_example_cdm
from triage.data.omop.extract import extract_cdm
from triage.data.omop.load import load_folder
from triage.tooling.postgres import LocalPostgres

from ..conftest import REPO
from ..postgres.conftest import postgres_binaries, reachable_folder

CONTRACT = REPO / "data/contracts/examples/omop_lite.yaml"
pytestmark = pytest.mark.slow  # a PostgreSQL server and a Spark session


@pytest.fixture(scope="module")
def cdm(tmp_path_factory) -> Path:
    return write_example_cdm(tmp_path_factory.mktemp("omop") / "cdm")


@pytest.fixture(scope="module")
def postgres_cdm(cdm) -> Iterator[str]:
    postgres_binaries()
    with reachable_folder() as folder:
        server = LocalPostgres(folder, database="cdm")
        server.up()
        try:
            load_folder(cdm, server.url)
            yield server.url
        finally:
            server.down()


def extraction(contract, out: Path, raw_dir: str) -> tuple[pd.DataFrame, dict]:
    report = extract_cdm(contract, out, raw_dir)
    return pd.read_parquet(out), report


def test_duckdb_and_postgresql_extract_the_same_rows(cdm, postgres_cdm, tmp_path, monkeypatch):
    contract = load_contract(CONTRACT)
    on_duckdb, duck_report = extraction(contract, tmp_path / "duckdb.parquet", str(cdm))
    on_postgres, pg_report = extraction(contract, tmp_path / "postgres.parquet", postgres_cdm)
    assert duck_report["engine"] == "duckdb" and pg_report["engine"] == "postgresql"
    assert "@" in pg_report["cdm"] and ":***@" in pg_report["cdm"]  # the password never reaches the report
    for key in ("index_visits", "visits", "removed_by_population_rules", "concept_set_records"):
        assert duck_report[key] == pg_report[key], key
    assert len(on_duckdb) > 25_000 and on_duckdb["outcome_source_value"].str.startswith("ORPHA:").any()
    pd.testing.assert_frame_equal(on_duckdb, on_postgres)


def test_spark_sql_extracts_the_rows_duckdb_extracts(cdm, tmp_path):
    """The same query rendered as Spark SQL, over the CDM folder's tables as Spark views (a local[1] session)."""
    from triage.executors.spark import SparkExecutor

    contract = load_contract(CONTRACT)
    on_duckdb, duck_report = extraction(contract, tmp_path / "duckdb.parquet", str(cdm))
    spark_report = extract_cdm(contract, tmp_path / "spark.parquet", str(cdm),
                               spark=SparkExecutor(master="local[1]").session)
    assert spark_report["engine"] == "spark"
    for key in ("index_visits", "visits", "removed_by_population_rules", "concept_set_records"):
        assert duck_report[key] == spark_report[key], key
    pd.testing.assert_frame_equal(on_duckdb, pd.read_parquet(tmp_path / "spark.parquet"))
