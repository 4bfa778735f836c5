"""`triage summary`: the headline metrics of the last pipeline run and where its outputs are (the end of `make run`)."""

from __future__ import annotations


def evidence_note(metrics: dict, min_cases: int) -> str:
    """'' when every class has enough test cases; else which have too few, as the gate will say."""
    short = {name: n for name, n in metrics.get("evidence", {}).get("test_cases", {}).items() if n < min_cases}
    return "" if not short else "  INSUFFICIENT EVIDENCE: " + ", ".join(
        f"{name} (n = {n})" for name, n in short.items()) + f"; the gate needs {min_cases} test cases per class"


def orphan_lines(model: dict) -> list[str]:
    point = model.get("orphan_operating_point") or {}
    lines = [f"  orphan recall       {model['orphan_recall']:.3f}   95% CI {model['orphan_recall_ci']} (exact)"
             f"  at threshold {model['orphan_threshold']:.4f}",
             f"  orphan precision    {model['orphan_precision']:.3f}   95% CI {model['orphan_precision_ci']}"]
    if point:
        stated = point["at_stated_prevalence"]
        lines.append(f"  orphan flag         specificity {point['specificity']:.4f}, "
                     f"LR+ {_shown(point['lr_positive'])}, LR- {_shown(point['lr_negative'])}; "
                     f"at prevalence {stated['prevalence']:g}: PPV {stated['ppv']:.3f}, NPV {stated['npv']:.5f}")
    return lines


def _shown(value: float | None) -> str:
    return "inf" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.3f}"
