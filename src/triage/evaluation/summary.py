"""`triage summary`: the headline metrics of the last pipeline run and where its outputs are (the end of `make run`)."""

from __future__ import annotations

from pathlib import Path

from triage import config
from triage.tables import read_json


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


def command(args) -> int:
    metrics = read_json(Path(args.metrics))
    model = metrics["model"]
    bayes = metrics.get("bayes_limit")
    validation = read_json(config.REPORTS / "validation.json")
    contract = metrics.get("contract", {})
    print(f"triage pipeline: headline metrics (test part; contract {contract.get('name')} {contract.get('version')}, "
          f"classes {', '.join(metrics.get('classes', []))})")
    limit = (f"   (Bayes limit {bayes['macro_f1_decision']:.3f})" if bayes else "")
    print(f"  macro-F1 (served)   {model['macro_f1_decision']:.3f}{limit}   (most probable class: "
          f"{model['macro_f1']:.3f})")
    print(f"  ROC-AUC (OvR macro) {model['roc_auc_ovr_macro']:.3f}")
    if metrics.get("orphan_decision", True):
        print("\n".join(orphan_lines(model)))
    else:
        print("  orphan decision     none: the data has no orphan class")
    print(f"  specialist review   {model['specialist_review_share']:.1%} of visits (top probability < 0.70)")
    note = evidence_note(metrics, int(config.load_params()["gate"]["min_cases"]))
    if note:
        print(note)
    print(f"  rows: in {validation['rows_in']}, clean {validation['rows_clean']}, quarantined "
          f"{validation['rows_quarantined']}, duplicates {validation['rows_duplicate']}")
    print("outputs:")
    for path in (config.ONNX_MODEL, config.MANIFEST, config.REPORTS / "metrics.json", config.REPORTS / "figures",
                 config.QUARANTINE):
        print(f"  {path}")
    return 0
