"""The quality gate: headline metrics against the minimums in params (gate section)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateLine:
    name: str
    value: float | None
    minimum: float
    passed: bool

    def __str__(self) -> str:
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
    lines = []
    for path, param, strict in CHECKS:
        value, minimum = lookup(metrics, path), float(minimums[param])
        passed = value is not None and (value > minimum if strict else value >= minimum)
        lines.append(GateLine(path, value, minimum, passed))
    return lines
