"""Reading the service's prediction log (JSON lines, the record triage_shared.predlog defines) from a local file, a
directory of pushed segments, or s3://BUCKET/predictions/<env>/, into one table: the input features, the output, the
lineage and the visit ref."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from triage_shared import predlog
from triage_shared.bucket import predictions_prefix
from triage_shared.store import ModelStore


@dataclass
class PredictionLog:
    frame: pd.DataFrame  # one row per logged prediction, oldest first
    sources: list[str]
    unreadable_lines: int  # e.g. the line a crash cut short; counted, never silently dropped


def log_keys(store: ModelStore, env: str) -> list[str]:
    paginator = store.client.get_paginator("list_objects_v2")
    keys = []
    for page in paginator.paginate(Bucket=store.bucket, Prefix=predictions_prefix(env)):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def read_lines_s3(store: ModelStore, env: str) -> tuple[list[bytes], list[str]]:
    keys = log_keys(store, env)
    chunks = [store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read() for key in keys]
    return b"".join(chunks).splitlines(), [f"s3://{store.bucket}/{key}" for key in keys]


def read_lines_local(path: Path, env: str) -> tuple[list[bytes], list[str]]:
    files = sorted(path.glob(predlog.log_glob(env))) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"no prediction log for {env!r} at {path}")
    return b"".join(f.read_bytes() for f in files).splitlines(), [str(f) for f in files]


def to_frame(lines: list[bytes], classes: list[str], features: dict[str, str]) -> tuple[pd.DataFrame, int]:
    """`features`: name -> kind (numeric, binary, category), as the reference profile lists them."""
    rows, unreadable = [], 0
    for line in lines:
        try:
            entry = predlog.parse(line)
            row = {name: entry.inputs.get(name) for name in features}
            row.update({f"p_{c}": entry.probabilities[c] for c in classes})
        except (ValueError, KeyError):
            unreadable += 1
            continue
        row.update({"request_id": entry.request_id, "time": entry.time, "model_sha256": entry.model_sha256,
                    "model_version": entry.model_version, "visit_ref": entry.visit_ref,
                    "triage_class": entry.triage_class, "specialist_review": entry.specialist_review})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*features, *(f"p_{c}" for c in classes), "request_id", "time",
                                        "model_sha256", "model_version", "visit_ref", "triage_class",
                                        "specialist_review"])
    for name, kind in features.items():
        if kind != "category":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(np.float64)
    return frame.sort_values("time", kind="stable").reset_index(drop=True), unreadable


def read_prediction_log(source: str, env: str, classes: list[str], features: dict[str, str],
                        store: ModelStore | None = None) -> PredictionLog:
    if source.startswith("s3://"):
        lines, sources = read_lines_s3(store, env)
    else:
        lines, sources = read_lines_local(Path(source), env)
    frame, unreadable = to_frame(lines, classes, features)
    return PredictionLog(frame, sources, unreadable)
