"""`triage compute choose`: where this run's heavy stages should go, for a workflow step to export.

    echo "$(triage compute choose)" >> "$GITHUB_ENV"     # TRIAGE_COMPUTE=aws above compute.cloud_above_visits

The size is the simulated cohort's `simulate.n_visits`, or the rows of the extracts under data.raw_dir and
data.incoming_dir (Parquet from its footer, CSV by counting lines: no parsing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from triage.cloud.settings import PROFILE_VARIABLE, choose_profile, compute_settings
from triage.config import load_params, simulating
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


def command(args) -> int:
    params = load_params(Path(args.params) if args.params else None)
    settings = compute_settings(params)
    print(f"{PROFILE_VARIABLE}={choose_profile(visits(params), settings)}")
    return 0
