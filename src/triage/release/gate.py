"""The quality gate: headline metrics against the minimums in params (gate section).

The orphan line applies only to a model that makes an orphan decision (its data has an orphan class); for another
model the line says so plainly and does not count.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from triage import config


@dataclass(frozen=True)
class GateLine:
    name: str
    value: float | None
    minimum: float
    passed: bool
    applicable: bool = True

    def __str__(self) -> str:
        if not self.applicable:
            return f"N/A   {self.name}: this model makes no orphan decision (its data has no orphan class)"
        shown = "missing" if self.value is None else f"{self.value:.4f}"
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name} = {shown} (minimum {self.minimum})"


CHECKS = (  # (metric path in reports/metrics.json, gate param, strictly greater?)
    ("model.roc_auc_ovr_macro", "min_roc_auc", True),
    ("model.orphan_recall_lower", "min_orphan_recall_lower", False),
    ("model.macro_f1", "min_macro_f1", False),
)


def lookup(metrics: dict, path: str) -> float | None:
    value = metrics
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def check_gate(metrics: dict, minimums: dict) -> list[GateLine]:
    """`metrics`: reports/metrics.json (or {"model": manifest metrics, "orphan_decision": ...})."""
    orphan_decision = metrics.get("orphan_decision", True)
    lines = []
    for path, param, strict in CHECKS:
        value, minimum = lookup(metrics, path), float(minimums[param])
        if "orphan" in path and not orphan_decision:
            lines.append(GateLine(path, None, minimum, True, applicable=False))
            continue
        passed = value is not None and (value > minimum if strict else value >= minimum)
        lines.append(GateLine(path, value, minimum, passed))
    return lines


def command(args) -> int:
    """`triage gate`: exit 0 when every applicable line passes, 1 when one fails, 2 without metrics."""
    metrics_file = Path(args.metrics)
    if not metrics_file.exists():
        print(f"gate: {metrics_file} not found; run `dvc repro` first", file=sys.stderr)
        return 2
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    lines = check_gate(metrics, config.load_params(Path(args.params))["gate"])
    for line in lines:
        print(line)
    failed = [line for line in lines if not line.passed]
    print("quality gate: " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0
