"""The prediction log: its file name, the record of one prediction, and its segments in the bucket.

The service appends one JSON line per prediction to `predicciones_<env>.txt` and pushes complete lines to
`s3://BUCKET/predictions/<env>/` (triage_shared.bucket) in segments; the monitor reads them back. The record is
defined here once: inputs
(which carry no personal data), output, lineage, and the keyed hash of the caller's visit id, never the id itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from triage_shared.bucket import predictions_prefix


def log_file_name(env: str) -> str:
    return f"predicciones_{env}.txt"


def log_glob(env: str) -> str:
    """The log file and any rotated or downloaded segments of it in a directory."""
    return f"predicciones_{env}*.txt"


def segment_key(env: str, stem: str, instance: str, offset: int) -> str:
    """One pushed segment: the log's stem, the writing instance and the byte offset it starts at."""
    return f"{predictions_prefix(env)}{stem}.{instance}.{offset:012d}.txt"


def record(request_id: str, time: str, env: str, lineage: dict, visit_ref: str | None, inputs: dict,
           output: dict, latency_ms: float) -> dict:
    """One log line. `output` is {triage_class, probabilities: {class: p}, specialist_review}."""
    return {"request_id": request_id, "time": time, "env": env, "model_version": lineage["version"],
            "model_sha256": lineage["sha256"], "visit_ref": visit_ref, "input": inputs, "output": output,
            "latency_ms": latency_ms}


@dataclass(frozen=True)
class Entry:
    request_id: str
    time: str
    model_version: str | None
    model_sha256: str | None
    visit_ref: str | None
    inputs: dict
    triage_class: str
    probabilities: dict
    specialist_review: bool


def parse(line: bytes | str) -> Entry:
    """One log line; ValueError (with KeyError / TypeError folded in) for a line that is not a whole record, such as
    the one a crash cut short."""
    try:
        entry = json.loads(line)
        output = entry["output"]
        return Entry(request_id=entry["request_id"], time=entry["time"], model_version=entry.get("model_version"),
                     model_sha256=entry.get("model_sha256"), visit_ref=entry.get("visit_ref"),
                     inputs=dict(entry["input"]), triage_class=output["triage_class"],
                     probabilities=dict(output["probabilities"]), specialist_review=bool(output["specialist_review"]))
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a prediction record: {error}") from error
