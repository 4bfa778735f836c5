"""`triage summary`: the headline metrics of the last pipeline run and where its outputs are (the end of `make run`)."""

from __future__ import annotations

from pathlib import Path

from triage import config
from triage.tables import read_json


def command(args) -> int:
    metrics = read_json(Path(args.metrics))
    model = metrics["model"]
    bayes = metrics.get("bayes_limit")
    validation = read_json(config.REPORTS / "validation.json")
    contract = metrics.get("contract", {})
    print(f"triage pipeline: headline metrics (test part; contract {contract.get('name')} {contract.get('version')}, "
          f"classes {', '.join(metrics.get('classes', []))})")
    limit = f"   (Bayes limit {bayes['macro_f1']:.3f}, ratio {metrics['model_to_bayes_macro_f1']:.3f})" if bayes else ""
    print(f"  macro-F1            {model['macro_f1']:.3f}{limit}")
    print(f"  ROC-AUC (OvR macro) {model['roc_auc_ovr_macro']:.3f}")
    if metrics.get("orphan_decision", True):
        print(f"  orphan recall       {model['orphan_recall']:.3f}   95% CI {model['orphan_recall_ci']}"
              f"  at threshold {model['orphan_threshold']:.4f}")
        print(f"  orphan precision    {model['orphan_precision']:.3f}")
    else:
        print("  orphan decision     none: the data has no orphan class")
    print(f"  specialist review   {model['specialist_review_share']:.1%} of visits (top probability < 0.70)")
    print(f"  rows: in {validation['rows_in']}, clean {validation['rows_clean']}, quarantined "
          f"{validation['rows_quarantined']}, duplicates {validation['rows_duplicate']}")
    print("outputs:")
    for path in (config.ONNX_MODEL, config.MANIFEST, config.REPORTS / "metrics.json", config.REPORTS / "figures",
                 config.QUARANTINE):
        print(f"  {path}")
    return 0
