"""A folder of CDM tables (CSV or Parquet) in Spark: one temporary view per table, the extraction's query rendered as
Spark SQL and run by the session of the Spark executor (`data.executor: {engine: spark}`), its result read back a
batch at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from triage.data.omop.cdm import FETCH_ROWS, TABLE_SUFFIXES
from triage.errors import UserError


@dataclass
class SparkCdm:
    session: Any
    engine: str = "spark"

    @classmethod
    def of_folder(cls, session: Any, folder: Path) -> SparkCdm:
        tables = sorted(path for path in folder.iterdir() if path.suffix.lower() in TABLE_SUFFIXES)
        if not tables:
            raise UserError(f"source.omop.cdm: no CDM tables (*.csv, *.parquet) in {folder}")
        for path in tables:
            reader = session.read.option("header", True).option("inferSchema", True)
            frame = reader.csv(str(path.resolve())) if path.suffix.lower() == ".csv" else \
                session.read.parquet(str(path.resolve()))
            frame.createOrReplaceTempView(path.stem.lower())
        return cls(session)

    def columns(self, table: str, schema: str | None) -> set[str] | None:
        if not self.session.catalog.tableExists(table):
            return None
        return {name.lower() for name in self.session.table(table).columns}

    def frames(self, sql: str) -> Iterator[pd.DataFrame]:
        result = self.session.sql(sql)
        names, rows = result.columns, []
        for row in result.toLocalIterator():
            rows.append(tuple(row))
            if len(rows) == FETCH_ROWS:
                yield pd.DataFrame(rows, columns=names)
                rows = []
        if rows or not names:
            yield pd.DataFrame(rows, columns=names)

    def close(self) -> None:
        """The session belongs to the executor: left running for the stage's next step."""
