"""Train / validation / test parts, stratified by class (default) or temporal by visit date.

Patients never straddle parts: the unit of assignment is the patient. Outcome codes listed in the holdout file (the
simulator's unseen orphan diseases) are kept out of training and validation entirely, so evaluate can report recall
on diseases the model never saw. The assignment is one set of queries (triage.data.queries) that either executor
runs; `split` runs them in DuckDB on a frame in memory (tests, small data).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from triage.contract import Contract
from triage.data import queries
from triage.data.kernels import RECORD_ORDER

PARTS = ("train", "valid", "test")


def read_holdout(path: str | None) -> set[str]:
    if not path or not Path(path).exists():
        return set()
    return {line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()}


def split(frame: pd.DataFrame, settings: dict, seed: int, holdout: set[str], classes: tuple[str, ...]
          ) -> dict[str, pd.DataFrame]:
    """The frame's rows by part, in their order (the executors' queries, run in DuckDB on the frame)."""
    clean = frame.assign(**{RECORD_ORDER: np.arange(len(frame), dtype=np.int64)}) \
        if RECORD_ORDER not in frame else frame
    with duckdb.connect() as con:
        con.register("clean", clean)
        parts_sql = queries.patient_parts_for(classes, settings, seed, holdout)
        con.execute(f"CREATE TEMP TABLE patient_parts AS {parts_sql}")
        part_of = dict(con.execute("SELECT patient_id, part FROM patient_parts").fetchall())
    parts = clean["patient_id"].map(part_of)
    return {name: frame[(parts == name).to_numpy()].reset_index(drop=True) for name in PARTS}


def summary(profile: dict[str, dict], contract: Contract, holdout: set[str]) -> dict:
    """reports/split.json: rows, patients and cases per class of each part (unseen orphan cases in test)."""
    out: dict = {}
    for name in PARTS:
        part = profile[name]
        out[name] = {"rows": int(part["rows"]), "patients": int(part["patients"]),
                     **{f"n_{c}": int(part[f"n_{c}"] or 0) for c in contract.classes}}
    if holdout:
        out["test"]["n_unseen_orphan"] = int(profile["test"]["n_unseen_orphan"] or 0)
    return out


def parts_profile(rows: pd.DataFrame, contract: Contract) -> dict[str, dict]:
    """The profile query's rows by part (a part no patient went to: zeros)."""
    found = {row.pop("part"): row for row in rows.to_dict(orient="records")}
    return {part: found.get(part, queries.empty_part_profile(contract)) for part in PARTS}
