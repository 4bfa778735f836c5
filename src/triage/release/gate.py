"""The quality gate: headline metrics against the minimums in params (gate section), and, where a base model is
at hand (the pull-request report), against the base: a metric may not get worse than `gate.max_regression` allows.

What is gated is what is served: macro-F1 of the decision rule `decide()` applies (orphan threshold included), and
the orphan recall's exact (Clopper-Pearson) lower bound at the served threshold. A verdict needs evidence: every
class needs `gate.min_cases` test cases, and the orphan threshold that many tuning cases, or the line says
"insufficient evidence (n = 3)" and fails. And the metrics must be the current pipeline's (triage.evaluation.
provenance): recorded under the current contract and evaluate params, with `dvc status` clean up to `evaluate`.

Orphan lines apply only to a model that makes an orphan decision (its data has an orphan class); for another model
the line says so plainly and does not count. Neither does a regression line when the base has no value to compare
with, or was trained under another data contract (its figures are of other data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from triage_shared.classes import ORPHAN_CLASS


@dataclass(frozen=True)
class GateLine:
    name: str
    value: float | None
    minimum: float
    passed: bool
    applicable: bool = True
    note: str = ""  # a line that is a statement, not a value against a minimum

    def __str__(self) -> str:
        if not self.applicable:
            return f"N/A   {self.name}: this model makes no orphan decision (its data has no orphan class)"
        if self.note:
            return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.note}"
        shown = "missing" if self.value is None else f"{self.value:.4f}"
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name} = {shown} (minimum {self.minimum})"


CHECKS = (  # (metric path in reports/metrics.json, gate param, strictly greater?)
    ("model.roc_auc_ovr_macro", "min_roc_auc", True),
    ("model.orphan_recall_lower", "min_orphan_recall_lower", False),
    ("model.macro_f1_decision", "min_macro_f1", False),  # the served rule's, not the most probable class's
)


HIGHER_IS_BETTER = {  # metric in reports/metrics.json "model" -> whether a larger value is the better one
    "macro_f1": True, "macro_f1_decision": True, "roc_auc_ovr_macro": True, "balanced_accuracy": True,
    "orphan_recall": True,
    "orphan_recall_lower": True, "orphan_precision": True, "orphan_pr_auc": True,
    "orphan_precision_at_recall_target": True,
    "specialist_review_share": False, "brier": False, "ece": False,
}


@dataclass(frozen=True)
class RegressionLine:
    name: str
    value: float | None
    base: float | None
    tolerance: float
    passed: bool
    not_compared: str = ""  # why the line does not count, when it does not

    def __str__(self) -> str:
        if self.not_compared:
            return f"N/A   {self.name}: {self.not_compared}"
        worse = "lower" if HIGHER_IS_BETTER[self.name.removeprefix("model.")] else "higher"
        shown = "missing" if self.value is None else f"{self.value:.4f}"
        return (f"{'PASS' if self.passed else 'FAIL'}  {self.name} = {shown} (base {self.base:.4f}; "
                f"at most {self.tolerance} {worse})")


def lookup(metrics: dict, path: str) -> float | None:
    value = metrics
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def check_gate(metrics: dict, minimums: dict) -> list[GateLine]:
    """`metrics`: reports/metrics.json (or {"model": manifest metrics, "orphan_decision": ..., "evidence": ...})."""
    orphan_decision = metrics.get("orphan_decision", True)
    evidence = evidence_lines(metrics, int(minimums["min_cases"]))
    short = {line.name for line in evidence if not line.passed}
    lines = []
    for path, param, strict in CHECKS:
        value, minimum = lookup(metrics, path), float(minimums[param])
        if "orphan" in path and not orphan_decision:
            lines.append(GateLine(path, None, minimum, True, applicable=False))
        elif "orphan" in path and short & {f"evidence {ORPHAN_CLASS}", f"evidence {ORPHAN_CLASS} threshold"}:
            cases = metrics.get("evidence", {}).get("test_cases", {}).get(ORPHAN_CLASS, 0)
            lines.append(GateLine(path, value, minimum, False, note=f"insufficient evidence (n = {cases} test cases)"))
        else:
            passed = value is not None and (value > minimum if strict else value >= minimum)
            lines.append(GateLine(path, value, minimum, passed))
    return evidence + lines


def evidence_lines(metrics: dict, min_cases: int) -> list[GateLine]:
    """One line per class (test cases) and for the orphan threshold (its tuning cases): fewer than `min_cases` is
    insufficient evidence, a failed line, never a pass on three cases."""
    evidence = metrics.get("evidence")
    if not isinstance(evidence, dict):
        return [GateLine("evidence", None, min_cases, False, note="the metrics record no case counts (evaluate "
                         "predates them): run `dvc repro`")]
    counts = {f"evidence {name}": n for name, n in evidence.get("test_cases", {}).items()}
    if metrics.get("orphan_decision", True):
        counts[f"evidence {ORPHAN_CLASS} threshold"] = evidence.get("threshold_tuning_cases", 0)
    return [GateLine(name, n, min_cases, n >= min_cases,
                     note=f"{'sufficient' if n >= min_cases else 'insufficient'} evidence (n = {n}"
                          f"{' tuning' if name.endswith('threshold') else ' test'} cases; minimum {min_cases})")
            for name, n in counts.items()]


def provenance_lines(metrics: dict, params: dict, root: Path = Path(".")) -> list[GateLine]:
    """One failed line per reason the metrics are not the current pipeline's; one passed line when they are."""
    from triage.evaluation.provenance import staleness

    reasons = staleness(metrics, params, root)
    if not reasons:
        return [GateLine("metrics provenance", None, 0, True, note="the current contract, params and data "
                         "(dvc status clean up to evaluate)")]
    return [GateLine("metrics provenance", None, 0, False, note=f"{reason}; run `dvc repro`") for reason in reasons]


def check_regression(metrics: dict, base: dict | None, tolerances: dict) -> list[RegressionLine]:
    """One line per metric in `tolerances` (gate.max_regression): fails when this model is worse than the base by
    more than the tolerance. `metrics`, `base`: reports/metrics.json of this model and of the base."""
    unknown = sorted(set(tolerances) - set(HIGHER_IS_BETTER))
    if unknown:
        raise ValueError(f"gate.max_regression: {', '.join(unknown)} is not a metric the gate knows "
                         f"(one of: {', '.join(sorted(HIGHER_IS_BETTER))})")
    same_contract = (base or {}).get("contract", {}).get("sha256") == metrics.get("contract", {}).get("sha256")
    lines = []
    for name, tolerance in tolerances.items():
        path, tolerance = f"model.{name}", float(tolerance)
        value, reference = lookup(metrics, path), lookup(base or {}, path)
        why_not = regression_not_compared(name, metrics, reference, same_contract)
        if why_not:
            lines.append(RegressionLine(path, value, reference, tolerance, True, why_not))
            continue
        change = (value - reference) if value is not None else float("-inf")
        worsening = -change if HIGHER_IS_BETTER[name] else change
        lines.append(RegressionLine(path, value, reference, tolerance, value is not None and worsening <= tolerance))
    return lines


def regression_not_compared(name: str, metrics: dict, base_value: float | None, same_contract: bool) -> str:
    if "orphan" in name and not metrics.get("orphan_decision", True):
        return "this model makes no orphan decision (its data has no orphan class)"
    if base_value is None:
        return "the base has no value to compare with"
    if not same_contract:
        return "the base was trained under another data contract: its figures are of other data"
    return ""
