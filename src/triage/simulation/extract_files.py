"""The simulated site extracts as files that grow batch by batch: CSV appended, Parquet one row group per batch.

The simulator writes a cohort larger than memory, so neither format may need the whole table at once. The CSV text
is exactly what triage.tables.write_csv would write for the whole table (the same spreadsheet-safe cells, header once,
the same pandas CSV dialect); the Parquet files have one fixed schema, every column UTF-8 text (the extracts are
messy text on purpose: ingest parses them), so no batch can change a column's type.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from triage.tables import FORMULA_START, spreadsheet_safe

PARQUET_SITES = 3  # the last sites (in site order) send Parquet, the others CSV


def spreadsheet_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """write_csv's cells and header: text cells a spreadsheet would run as formulas neutralised by
    triage.tables.spreadsheet_safe. Only cells that start like a formula are passed to it (it leaves every other
    cell as it is), which is the same result at a fraction of the cost on millions of cells."""
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        try:
            risky = values.str.startswith(FORMULA_START, na=False).to_numpy(dtype=bool)
        except AttributeError:  # not all text: every cell through the rule
            safe[column] = values.map(spreadsheet_safe)
            continue
        if risky.any():
            cells = values.to_numpy(dtype=object).copy()
            cells[risky] = [spreadsheet_safe(cell) for cell in cells[risky]]
            safe[column] = pd.Series(cells, index=safe.index, dtype=object)
    safe.columns = [spreadsheet_safe(str(c)) for c in safe.columns]
    return safe


def append_csv(frame: pd.DataFrame, handle: TextIO, header: bool) -> None:
    """A batch appended to an open CSV (opened as pandas opens a path: UTF-8, newline=""), the header only with
    the first batch: the batches joined are the bytes write_csv writes for the whole table."""
    spreadsheet_safe_frame(frame).to_csv(handle, index=False, header=header)


def text_schema(columns: list[str]) -> pa.Schema:
    """Every column UTF-8 text: Parquet's BYTE_ARRAY/UTF8, the type the extracts' columns have always had."""
    return pa.schema([pa.field(column, pa.string()) for column in columns])


class SiteExtracts:
    """One extract per site, open while the batches are written; a site's file is created with its first rows."""

    def __init__(self, raw_dir: Path, sites: list[str]) -> None:
        raw_dir.mkdir(parents=True)
        self.raw_dir, self.sites = raw_dir, sorted(sites)
        self.columns: list[str] | None = None
        self.csv: dict[str, TextIO] = {}
        self.parquet: dict[str, pq.ParquetWriter] = {}

    def __enter__(self) -> SiteExtracts:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def path(self, site: str) -> Path:
        parquet = self.sites.index(site) >= len(self.sites) - PARQUET_SITES
        return self.raw_dir / f"extract_{site}.{'parquet' if parquet else 'csv'}"

    @property
    def paths(self) -> list[Path]:
        """The extracts written, in site order."""
        return [self.path(site) for site in self.sites if site in self.csv or site in self.parquet]

    def append(self, messy: pd.DataFrame) -> None:
        """A batch's rows, each to its site's extract (the site as written, spaces around it or not)."""
        if self.columns is None:
            self.columns = [str(column) for column in messy.columns]
        elif [str(column) for column in messy.columns] != self.columns:
            raise ValueError(f"a batch has other columns than the first: {list(messy.columns)}")
        site_of_row = messy["site_id"].astype(str).str.strip().to_numpy(dtype=object)
        for site in self.sites:
            rows = np.flatnonzero(site_of_row == site)
            if len(rows):
                self._write(site, messy.iloc[rows])

    def _write(self, site: str, part: pd.DataFrame) -> None:
        path = self.path(site)
        if path.suffix == ".csv":
            first = site not in self.csv
            if first:
                self.csv[site] = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed in close)
            append_csv(part, self.csv[site], header=first)
            return
        schema = text_schema(self.columns or [])
        if site not in self.parquet:
            self.parquet[site] = pq.ParquetWriter(path, schema, compression="snappy")
        self.parquet[site].write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))

    def close(self) -> None:
        for handle in self.csv.values():
            handle.close()
        for writer in self.parquet.values():
            writer.close()
