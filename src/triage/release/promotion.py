"""`triage promotion-check --env prod`: promotion is a gate, not a tag alone.

For the version GTO promotes to the stage, fetched from the DVC remote exactly as `triage publish` would publish it:
the ONNX parity the export stage recorded, the quality gate on the version's own metrics, a latency budget for
ONNX Runtime on this model (single-row p99 and batch throughput, as the serving benchmark measures them), and a model
card with every required section. Any failure exits 1 and the deploy job does not run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triage import config
from triage.release.gate import check_gate
from triage.release.registry import fetch_from_remote, model_card, promoted_version

CARD_SECTIONS = ("## Intended use", "## Classes", "## Data", "## Metrics", "## Known limits")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def parity_check(manifest: dict) -> Check:
    parity = manifest.get("parity") or {}
    worst, tolerance = parity.get("max_abs_probability_difference"), parity.get("tolerance")
    if worst is None or tolerance is None:
        return Check("ONNX parity", False, "the manifest records no parity check")
    passed = worst <= tolerance and parity.get("label_disagreements", 1) == 0
    return Check("ONNX parity", passed, f"max |dp| {worst:.1e} on {parity.get('rows')} rows (tolerance {tolerance:g}),"
                 f" {parity.get('label_disagreements')} label disagreements")


def gate_checks(manifest: dict, minimums: dict) -> list[Check]:
    return [Check(f"quality gate {line.name}", line.passed, str(line).split("  ", 1)[1])
            for line in check_gate({"model": manifest.get("metrics", {}), "evidence": manifest.get("evidence"),
                                    "orphan_decision": manifest.get("orphan_decision", True)}, minimums)]


def latency_check(model_bytes: bytes, manifest: dict, budget: dict, rows: int = 2000) -> list[Check]:
    """Single-row p99 and batch rows/s of ONNX Runtime on this model, on random inputs inside the feature ranges."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    name = manifest["onnx"]["input"]["name"]
    x = synthetic_inputs(manifest["features"], rows)
    for row in x[:50]:
        session.run(["probabilities"], {name: row[None, :]})
    timings = []
    for row in x:
        started = time.perf_counter()
        session.run(["probabilities"], {name: row[None, :]})
        timings.append(time.perf_counter() - started)
    p99_ms = float(np.percentile(timings, 99) * 1000)
    started = time.perf_counter()
    session.run(["probabilities"], {name: np.tile(x, (5, 1))})
    rows_per_s = 5 * rows / (time.perf_counter() - started)
    return [Check("latency single-row p99", p99_ms <= budget["max_single_row_p99_ms"],
                  f"{p99_ms:.3f} ms (budget {budget['max_single_row_p99_ms']} ms)"),
            Check("batch throughput", rows_per_s >= budget["min_batch_rows_per_s"],
                  f"{rows_per_s:,.0f} rows/s (minimum {budget['min_batch_rows_per_s']:,})")]


def synthetic_inputs(features: list[dict], rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    columns = []
    for feature in features:
        if feature["type"] == "category":
            codes = [v for v in feature["encoding"].values() if v is not None]
            columns.append(rng.choice(codes, size=rows).astype(np.float32))
        else:
            values = rng.uniform(feature["minimum"], feature["maximum"], size=rows)
            columns.append((values if feature["type"] == "float" else values.round()).astype(np.float32))
    return np.column_stack(columns)


def card_check(manifest: dict) -> Check:
    card = model_card(manifest)
    missing = [section for section in CARD_SECTIONS if section not in card]
    return Check("model card", not missing, "all sections present" if not missing else f"missing {missing}")


def promotion_checks(repo: Path, stage: str, remote: str) -> tuple[str, list[Check]]:
    params = config.load_params(repo / "params.yaml")
    version = promoted_version(repo, stage)
    model, manifest_bytes, _ = fetch_from_remote(repo, version, remote)
    manifest = json.loads(manifest_bytes)
    checks = [parity_check(manifest), *gate_checks(manifest, params["gate"]),
              *latency_check(model, manifest, params["promotion"]), card_check(manifest)]
    return version.tag, checks
