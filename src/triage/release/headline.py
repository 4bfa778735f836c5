"""The headline table the pull-request report opens with: the product's few metrics, base against PR.

A change is marked when it goes the wrong way by more than the base's bootstrap interval allows: the PR's value
falls outside the base's 95 % interval on the bad side (for a metric without an interval of its own, such as the
orphan recall's lower bound, the interval of the metric it bounds sets the allowance). Inside the interval a change
is within what resampling the same test rows already moves, and is not marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from triage.release.gate import HIGHER_IS_BETTER, lookup

WRONG_WAY = "⚠"


@dataclass(frozen=True)
class HeadlineMetric:
    key: str            # in reports/metrics.json "model"
    label: str
    interval_of: str    # the metric whose bootstrap interval (<metric>_ci) sets the allowance
    orphan: bool = False


HEADLINE = (
    HeadlineMetric("macro_f1_decision", "macro-F1 (served decision)", "macro_f1_decision"),
    HeadlineMetric("orphan_recall", "orphan recall", "orphan_recall", orphan=True),
    HeadlineMetric("orphan_recall_lower", "orphan recall, 95 % lower bound", "orphan_recall", orphan=True),
    HeadlineMetric("orphan_precision", "orphan precision", "orphan_precision", orphan=True),
    HeadlineMetric("orphan_precision_at_recall_target", "orphan precision at the recall target (PR curve)",
                   "orphan_precision_at_recall_target", orphan=True),
    HeadlineMetric("specialist_review_share", "referred to a specialist", "specialist_review_share"),
    HeadlineMetric("roc_auc_ovr_macro", "ROC-AUC (macro, one vs rest)", "roc_auc_ovr_macro"),
)
INFORMATIVE = (("orphan_threshold", "orphan decision threshold"),)  # shown, never marked: no better direction
LEGEND = (f"{WRONG_WAY}: the change goes the wrong way beyond the base's 95 % bootstrap interval (outside it on "
          "the bad side).")


def allowance(base: dict, metric: HeadlineMetric) -> float | None:
    """How far the metric may move the wrong way before it is marked: the distance from the base's value of the
    interval's metric to the interval's end on the bad side. None without a base interval."""
    interval = base.get("model", {}).get(f"{metric.interval_of}_ci")
    centre = lookup(base, f"model.{metric.interval_of}")
    if not interval or centre is None or any(end is None for end in interval):
        return None
    low, high = float(interval[0]), float(interval[1])
    return centre - low if HIGHER_IS_BETTER[metric.key] else high - centre


def goes_the_wrong_way(metric: HeadlineMetric, value: float, base_value: float, base: dict) -> bool:
    allowed = allowance(base, metric)
    if allowed is None:
        return False
    worsening = (base_value - value) if HIGHER_IS_BETTER[metric.key] else (value - base_value)
    return worsening > allowed + 1e-12


@dataclass(frozen=True)
class HeadlineRow:
    label: str
    value: float | None
    base_value: float | None
    marked: bool = False

    def __str__(self) -> str:
        shown = "—" if self.value is None else f"{self.value:.4f}"
        old = "—" if self.base_value is None else f"{self.base_value:.4f}"
        change = "" if self.value is None or self.base_value is None else f"{self.value - self.base_value:+.4f}"
        return f"| {self.label} | {old} | {shown} | {change}{f' {WRONG_WAY}' if self.marked else ''} |"


def headline_rows(base: dict | None, head: dict) -> list[HeadlineRow]:
    """The headline metrics this model has (orphan ones only with an orphan decision), then the informative ones."""
    base = base or {}
    rows = []
    for metric in HEADLINE:
        if metric.orphan and not head.get("orphan_decision", True):
            continue
        value, base_value = lookup(head, f"model.{metric.key}"), lookup(base, f"model.{metric.key}")
        marked = value is not None and base_value is not None and goes_the_wrong_way(metric, value, base_value, base)
        rows.append(HeadlineRow(metric.label, value, base_value, marked))
    for key, label in INFORMATIVE:
        value, base_value = lookup(head, f"model.{key}"), lookup(base, f"model.{key}")
        if value is not None or base_value is not None:
            rows.append(HeadlineRow(label, value, base_value))
    return rows


def headline_table(rows: list[HeadlineRow]) -> str:
    """Markdown: metric | base | PR | change (marked when it goes the wrong way beyond the base's interval)."""
    return "\n".join(["| metric | base | PR | change |", "|---|---|---|---|", *map(str, rows)])
