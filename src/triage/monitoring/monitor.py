"""`triage monitor`: read an environment's prediction log, take the recent window of the profiled model, compare it
with the reference profile, join labels when given, write the reports and return the verdict."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from triage.contract import ContractFileError, contract_from_params
from triage.data.extracts import ExtractError, read_extract
from triage.data.ingest import derive_labels, pseudonym_key, pseudonymise
from triage.data.simulated_marker import is_simulated
from triage.monitoring.drift import Thresholds, compare, label_index
from triage.monitoring.log_reader import read_prediction_log
from triage.monitoring.report import write_reports
from triage_shared.artifacts import PROFILE_PATH
from triage_shared.bucket import monitoring_prefix, predictions_prefix
from triage_shared.predlog import log_file_name
from triage_shared.store import ModelStore

log = logging.getLogger("triage.monitor")


class MonitorError(RuntimeError):
    """The monitor cannot reach a verdict (no log, too few predictions, bad labels): exit code 2."""


@dataclass(frozen=True)
class MonitorRequest:
    env: str
    source: str  # a local log file or directory, or s3://BUCKET/predictions/<env>/
    profile: dict
    params: dict
    out_dir: Path
    labels_file: Path | None = None
    window: int | None = None


def labelled_classes(path: Path, params: dict) -> pd.DataFrame:
    """A labelled extract under the data contract (its visit id and outcome columns at least) as visit_ref → class,
    the visit ids hashed with ingest's key rule (TRIAGE_PSEUDONYM_KEY; the development key only for the
    simulator's own files)."""
    try:
        contract = contract_from_params(params)
        key = pseudonym_key([] if is_simulated(path) else [path])
        extract = read_extract(path).frame
    except (ContractFileError, ExtractError) as error:
        raise MonitorError(f"labels: {error}") from error
    visit, outcome = contract.spec.identifiers.visit, contract.spec.outcome
    missing = sorted({c for c in (visit, outcome.column) if c} - set(extract.columns))
    if visit is None or missing:
        raise MonitorError(f"labels {path}: joining needs the contract's visit id and outcome columns; "
                           f"missing: {missing or ['identifiers.visit (the contract names none)']}")
    classes = derive_labels(extract[outcome.column].astype(str).map(outcome.normalise), contract)
    known = classes.notna()
    frame = pd.DataFrame({"visit_ref": pseudonymise(extract[visit].astype(str).str.strip(), key),
                          "label": classes})[known]
    if (~known).any():
        log.warning("labels: %d row(s) with an outcome code the contract does not map were left out",
                    (~known).sum())
    return frame.drop_duplicates("visit_ref", keep="last")


def store_for(source: str) -> ModelStore | None:
    if not source.startswith("s3://"):
        return None
    bucket = source.removeprefix("s3://").split("/", 1)[0]
    return ModelStore.from_env(bucket)


def run_monitor(request: MonitorRequest) -> dict:
    profile, params = request.profile, request.params
    store = store_for(request.source)
    try:
        features = {name: spec["kind"] for name, spec in profile["features"].items()}
        logged = read_prediction_log(request.source, request.env, profile["classes"], features, store)
    except FileNotFoundError as error:
        raise MonitorError(str(error)) from error
    frame = logged.frame
    own = frame[frame["model_sha256"] == profile["model"]["sha256"]]
    window = own.tail(request.window or params["monitor"]["window"]).reset_index(drop=True)
    thresholds = Thresholds.from_params(params)
    labels = None
    if request.labels_file is not None:
        truth = labelled_classes(request.labels_file, params)
        joined = window[["visit_ref"]].merge(truth, on="visit_ref", how="left")
        if joined["label"].isna().all():
            raise MonitorError(f"labels {request.labels_file}: no visit matches a logged prediction of this window")
        labels = label_index(joined["label"], profile["classes"])  # -1 where the visit has no label (yet)
    try:
        result = compare(profile, window, thresholds, labels)
    except ValueError as error:
        raise MonitorError(str(error)) from error
    report = {
        "drift_detected": result.pop("drift_detected"), "reasons": result.pop("reasons"), "env": request.env,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "sources": logged.sources,
        "model": profile["model"], "reference_rows": profile["rows"],
        "log_lines": len(frame) + logged.unreadable_lines, "unreadable_lines": logged.unreadable_lines,
        "other_model_lines": int(len(frame) - len(own)),
        "window": {"rows": len(window), "first": _first(window, "time"), "last": _last(window, "time")},
        "thresholds": {"alpha": thresholds.alpha, "psi": thresholds.psi,
                       "missing_rate_change": thresholds.missing_rate_change,
                       "review_share_change": thresholds.review_share_change,
                       "estimated_f1_drop": thresholds.estimated_f1_drop, "min_macro_f1": thresholds.min_macro_f1,
                       "min_orphan_recall": thresholds.min_orphan_recall},
        **result,
    }
    paths = write_reports(report, profile, request.out_dir, params["monitor"]["top_features"])
    if store is not None:
        stamp = report["created_at"].replace(":", "")
        for kind, path in paths.items():
            store.client.put_object(Bucket=store.bucket, Key=f"{monitoring_prefix(request.env)}{stamp}/{path.name}",
                                    Body=path.read_bytes(), ContentType=_content_type(kind))
    report["paths"] = {kind: str(path) for kind, path in paths.items()}
    return report


def _first(frame: pd.DataFrame, column: str):
    return frame[column].iloc[0] if len(frame) else None


def _last(frame: pd.DataFrame, column: str):
    return frame[column].iloc[-1] if len(frame) else None


def _content_type(kind: str) -> str:
    return {"json": "application/json", "markdown": "text/markdown; charset=utf-8",
            "html": "text/html; charset=utf-8"}[kind]



def default_source(env: str) -> str:
    bucket = os.environ.get("TRIAGE_BUCKET")
    if bucket:
        return f"s3://{bucket}/{predictions_prefix(env)}"
    return str(Path(os.environ.get("TRIAGE_LOG_DIR", ".")) / log_file_name(env))


def load_profile(path: str | None, source: str, env: str) -> dict:
    """An explicit profile file; else the one published beside the stage's model (bucket sources); else the
    pipeline's models/reference_profile.json."""
    if path:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    store = store_for(source)
    if store is not None:
        published = store.fetch_profile(env)
        if published is not None:
            return published
    local = Path(PROFILE_PATH)
    if not local.exists():
        raise MonitorError("no reference profile: pass --profile, publish a model with one, or run `dvc repro`")
    return json.loads(local.read_text(encoding="utf-8"))
