"""The size of this run's cohort, for `triage compute choose` (where the heavy stages should go).

The size is the simulated cohort's `simulate.n_visits`, or the rows of the extracts under data.raw_dir and
data.incoming_dir (Parquet from its footer, CSV by counting lines: no parsing).
"""

from __future__ import annotations

from typing import Any

from triage.config import simulating
from triage.data.locations import Location, open_binary, suffix


def rows_in(extract: Location) -> int:
    with open_binary(extract) as handle:
        if suffix(extract) == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(handle).metadata.num_rows
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
        return max(lines - 1, 0)  # the header (a quoted field's line breaks count too: an upper bound)


def visits(params: dict[str, Any]) -> int:
    if simulating(params):
        return int(params["simulate"]["n_visits"])
    from triage.data.extracts import pipeline_extracts

    return sum(rows_in(extract) for extract in pipeline_extracts(params["data"]))
