"""The local executor, the embedded default: no server, no JVM, memory bounded whatever the number of visits.

- ingest streams every extract in batches (`batch_rows` records) through the row kernel into one Parquet file,
  row group by row group;
- validate and split run the global steps (triage.data.queries) in DuckDB over those files, with a memory limit and
  a spill directory, and stream their outputs back to Parquet in the canonical row order, so the files are the same
  bytes on every run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from triage.contract import Contract
from triage.data import parts, queries
from triage.data.extracts import BATCH_ROWS, iter_extract_batches, shown_path
from triage.data.ingest import header_findings, ingest_stats
from triage.data.kernels import canonical_columns, ingest_batch, row_schema, to_arrow
from triage.data.locations import Location
from triage.data.split import PARTS, parts_profile
from triage.data.validation import finish_quarantine, validation_accounting

Progress = Callable[[str], None]
Source = Path | pd.DataFrame


def parquet_source(path: Path) -> str:
    """DuckDB's reader of a Parquet output: one file (this executor's) or a folder of parts (Spark's); a store's
    parts (triage.data.parts) are read through a pyarrow dataset instead."""
    pattern = f"{path}/**/*.parquet" if Path(path).is_dir() else str(path)
    return f"read_parquet({queries.quoted(pattern)})"


@dataclass
class LocalExecutor:
    batch_rows: int = BATCH_ROWS
    memory_limit: str = "3GB"
    threads: int = 2
    spill_dir: Path | None = None
    _scratch: list[tempfile.TemporaryDirectory] = field(default_factory=list, repr=False)

    name = "local"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> LocalExecutor:
        return cls(batch_rows=int(settings.get("batch_rows", BATCH_ROWS)),
                   memory_limit=str(settings.get("memory_limit", "3GB")), threads=int(settings.get("threads", 2)))

    # --- ingest ---------------------------------------------------------------------------------------------------
    def ingest(self, paths: list[Location], contract: Contract, key: bytes, out: Path, simulated: bool,
               progress: Progress = print) -> dict[str, Any]:
        """Every extract through the row kernel into `out` (Parquet); the ingest statistics."""
        schema = row_schema(contract)
        counts: dict[str, int] = {}
        unknown: dict[str, list[str]] = {}
        out.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(out, schema) as writer:
            for index, path in enumerate(paths):
                counts[shown_path(path)] = self._ingest_extract(index, path, contract, key, schema, writer, unknown,
                                                                progress)
        return ingest_stats(counts, unknown, simulated, contract)

    def _ingest_extract(self, index: int, path: Location, contract: Contract, key: bytes, schema: pa.Schema,
                        writer: pq.ParquetWriter, unknown: dict[str, list[str]], progress: Progress) -> int:
        rows = 0
        for number, batch in enumerate(iter_extract_batches(path, self.batch_rows)):
            if number == 0:
                header_findings(batch, contract, unknown, progress)
            writer.write_table(to_arrow(ingest_batch(batch, index, contract, key), schema))
            rows += len(batch.frame)
            if number and number % 20 == 0:
                progress(f"reading {shown_path(path)}: {rows:,} rows so far")
        progress(f"read {shown_path(path)}: {rows} rows")
        return rows

    # --- DuckDB ---------------------------------------------------------------------------------------------------
    def connect(self) -> duckdb.DuckDBPyConnection:
        spill = self.spill_dir
        if spill is None:
            self._scratch.append(tempfile.TemporaryDirectory(prefix="triage-duckdb-"))
            spill = Path(self._scratch[-1].name)
        return duckdb.connect(config={"threads": self.threads, "memory_limit": self.memory_limit,
                                      "temp_directory": str(spill), "preserve_insertion_order": True})

    def _view(self, con: duckdb.DuckDBPyConnection, name: str, source: Source) -> None:
        if isinstance(source, pd.DataFrame) or parts.read_manifest(source) is not None:  # rows in memory or a store
            con.register(f"{name}_frame", source if isinstance(source, pd.DataFrame) else parts.dataset(source))
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_frame")
        else:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {parquet_source(source)}")

    def _stream(self, con: duckdb.DuckDBPyConnection, sql: str, out: Path | None) -> tuple[int, pd.DataFrame | None]:
        """The query's rows written to `out` batch by batch (or returned as a frame when `out` is None)."""
        if out is None:
            frame = con.execute(sql).df()
            return len(frame), frame
        out.parent.mkdir(parents=True, exist_ok=True)
        reader = con.sql(sql).to_arrow_reader(self.batch_rows)
        rows = 0
        with pq.ParquetWriter(out, reader.schema) as writer:
            for batch in batches_of(reader):
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows, None

    # --- validate -------------------------------------------------------------------------------------------------
    def validate(self, source: Source, contract: Contract, stats: dict[str, Any], max_bad_fraction: float,
                 clean_out: Path | None) -> tuple[pd.DataFrame | None, pd.DataFrame, dict[str, Any]]:
        """Duplicates, the unique visit id, clean and quarantined rows; the accounting (with the limit's verdict).
        The clean rows go to `clean_out`, or come back as a frame when it is None (small, in-memory uses)."""
        con = self.connect()
        self._view(con, "rows", source)
        con.execute(f"CREATE TEMP TABLE flagged AS {queries.FLAGGED}")
        rows_in, exact, near = con.execute(queries.COUNTS).fetchone()
        columns = canonical_columns(contract)
        quarantine = finish_quarantine(con.execute(queries.quarantine_query(columns)).df(), contract)
        rows_clean, clean = self._stream(con, queries.clean_query(columns), clean_out)
        accounting = validation_accounting({**stats, "rows_in": int(rows_in), "rows_exact_duplicate": int(exact),
                                            "rows_near_duplicate": int(near)}, rows_clean, quarantine,
                                           max_bad_fraction)
        return clean, quarantine, accounting

    # --- split ----------------------------------------------------------------------------------------------------
    def split(self, source: Source, contract: Contract, settings: dict[str, Any], seed: int, holdout: set[str],
              outs: dict[str, Path] | None) -> tuple[dict[str, pd.DataFrame] | None, dict[str, Any]]:
        """The clean rows into the parts by patient (to `outs`, or as frames); the parts' profile for the checks."""
        con = self.connect()
        self._view(con, "clean", source)
        parts_sql = queries.patient_parts_sql(contract, settings, seed, holdout)
        con.execute(f"CREATE TEMP TABLE patient_parts AS {parts_sql}")
        con.execute(f"CREATE TEMP TABLE assigned AS {queries.ASSIGNED}")
        columns = canonical_columns(contract)
        frames = {}
        for part in PARTS:
            _, frames[part] = self._stream(con, queries.part_query(columns, part), None if outs is None else outs[part])
        profile = parts_profile(con.execute(queries.parts_profile_query(contract, holdout)).df(), contract)
        return (None if outs is not None else frames), profile


def batches_of(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def run_in_memory(paths: list[Location], contract: Contract, key: bytes, simulated: bool, max_bad_fraction: float,
                  progress: Progress = print) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Ingest and validate small extracts (a contract check, one intake extract) with the pipeline's own executor,
    its Parquet in a temporary folder: the clean rows, the quarantine and the accounting."""
    executor = LocalExecutor()
    with tempfile.TemporaryDirectory(prefix="triage-ingest-") as scratch:
        ingested = Path(scratch) / "ingested.parquet"
        stats = executor.ingest(paths, contract, key, ingested, simulated, progress)
        clean, quarantine, accounting = executor.validate(ingested, contract, stats, max_bad_fraction, None)
    assert clean is not None
    return clean, quarantine, accounting
