"""One extract through the pipeline's own ingest and validation (triage.data), under the working clone's contract.

The same functions as the DVC stages `ingest` and `validate`: identifiers pseudonymised with the given key, personal
data dropped, duplicates counted, every bad row quarantined with its reasons. The bad-row limit is the pipeline's
(`validate.max_bad_fraction`): above it the extract is refused as a whole, with the most common rules in the reason.
Record ids and file names in the results name the object in the bucket (s3://...), not the local download.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from triage.contract import Contract
from triage.data.extracts import RECORD_ID, ExtractError, shown_path
from triage.data.ingest import KEY_VARIABLE, extract_key
from triage.data.validation import ValidationFailed
from triage.executors.local import run_in_memory

log = logging.getLogger("triage.intake")


@dataclass
class Verdict:
    accepted: bool
    accounting: dict  # rows_in, rows_clean, rows_quarantined, rows_duplicate, reasons, ... (validate's accounting)
    quarantine: pd.DataFrame  # the quarantined rows with their reasons (empty when none, or when refused whole)
    refusal: str | None  # why the extract is refused (None when accepted)
    rows_labelled: int  # clean rows with a triage class: what a retrain gains (validation quarantines a row
    # whose outcome the contract does not map, so every clean row is labelled)


class Relabel:
    """Replaces the local download's name (as ingest shows it) with the object's URI."""

    def __init__(self, path: Path, shown: str):
        self.local, self.shown = shown_path(path), shown

    def text(self, value: str) -> str:
        return value.replace(self.local, self.shown)

    def keys(self, mapping: dict) -> dict:
        return {self.text(str(key)): value for key, value in mapping.items()}

    def record_ids(self, frame: pd.DataFrame) -> pd.DataFrame:
        if RECORD_ID in frame.columns:
            frame = frame.assign(**{RECORD_ID: frame[RECORD_ID].astype(str).map(self.text)})
        return frame


def check_extract(path: Path, shown: str, contract: Contract, key: str, max_bad_fraction: float) -> Verdict:
    """Ingest and validate one extract; accepted when its quarantine share is within `max_bad_fraction`."""
    if not key:
        raise ValueError(f"an empty {KEY_VARIABLE} would pseudonymise nothing")
    relabel = Relabel(path, shown)
    try:
        hmac_key, simulated = extract_key([path], key)
        # validate records the limit and its verdict (`refused`) in the accounting and never raises for it
        _, quarantine, accounting = run_in_memory([path], contract, hmac_key, simulated, max_bad_fraction,
                                                  lambda message: log.info("%s", relabel.text(message)))
        if accounting["rows_in"] == accounting["rows_duplicate"]:
            return _refused(relabel, accounting, f"{shown}: no rows left after ingest (rows in "
                            f"{accounting['rows_in']}, all duplicates or none at all) (rule: an extract has rows)")
    except (ExtractError, ValidationFailed) as error:
        return _refused(relabel, {}, relabel.text(str(error)))
    accounting = {**accounting, "extracts": relabel.keys(accounting["extracts"]),
                  "columns_not_in_contract": relabel.keys(accounting["columns_not_in_contract"])}
    quarantine = relabel.record_ids(quarantine)
    refused = bool(accounting["refused"])
    labelled = 0 if refused else int(accounting["rows_clean"])  # a refused extract brings no rows
    accounting["rows_labelled"] = labelled
    if refused:
        top = ", ".join(f"{rule} ({count} rows)" for rule, count in list(accounting["reasons"].items())[:3])
        rows_out = accounting["rows_in"] - accounting["rows_duplicate"]
        reason = (f"{shown}: {accounting['rows_quarantined']} of {rows_out} rows fail the contract "
                  f"({accounting['quarantine_share']:.1%}), above validate.max_bad_fraction={max_bad_fraction}; "
                  f"most common: {top}")
        return Verdict(False, accounting, quarantine, reason, labelled)
    return Verdict(True, accounting, quarantine, None, labelled)


def _refused(relabel: Relabel, stats: dict, reason: str) -> Verdict:
    """An extract refused as a whole before any row accounting was possible (unreadable, a missing column...)."""
    accounting = {"rows_in": stats.get("rows_in", 0), "rows_clean": 0, "rows_quarantined": 0,
                  "rows_duplicate": stats.get("rows_exact_duplicate", 0) + stats.get("rows_near_duplicate", 0),
                  "reasons": {}, "rows_labelled": 0, "extracts": relabel.keys(stats.get("extracts", {}))}
    return Verdict(False, accounting, pd.DataFrame(), reason, 0)


def describe(verdict: Verdict, shown: str) -> str:
    """One log line of accounting."""
    a = verdict.accounting
    reasons = "; ".join(f"{rule}: {count}" for rule, count in a.get("reasons", {}).items()) or "none"
    state = "ACCEPTED" if verdict.accepted else f"REFUSED ({verdict.refusal})"
    return (f"{shown}: rows in {a.get('rows_in', 0)} = clean {a.get('rows_clean', 0)} + quarantined "
            f"{a.get('rows_quarantined', 0)} + duplicates {a.get('rows_duplicate', 0)}; labelled "
            f"{verdict.rows_labelled}; reasons by rule: {reasons}; {state}")
