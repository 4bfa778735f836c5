"""`triage` command line: the quality gate and a summary of the last pipeline run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from triage import config
from triage.gate import check_gate
from triage.tables import read_json


def gate(args: argparse.Namespace) -> int:
    metrics_file = Path(args.metrics)
    if not metrics_file.exists():
        print(f"gate: {metrics_file} not found; run `dvc repro` first", file=sys.stderr)
        return 2
    lines = check_gate(read_json(metrics_file), config.load_params(Path(args.params))["gate"])
    for line in lines:
        print(line)
    failed = [line for line in lines if not line.passed]
    print("quality gate: " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


def summary(args: argparse.Namespace) -> int:
    metrics = read_json(Path(args.metrics))
    model = metrics["model"]
    bayes = metrics.get("bayes_limit", {})
    validation = read_json(config.REPORTS / "validation.json")
    print("triage pipeline: headline metrics (test part)")
    print(f"  macro-F1            {model['macro_f1']:.3f}   (Bayes limit {bayes.get('macro_f1', float('nan')):.3f},"
          f" ratio {metrics.get('model_to_bayes_macro_f1', float('nan')):.3f})")
    print(f"  ROC-AUC (OvR macro) {model['roc_auc_ovr_macro']:.3f}")
    print(f"  orphan recall       {model['orphan_recall']:.3f}   95% CI {model['orphan_recall_ci']}"
          f"  at threshold {model['orphan_threshold']:.4f}")
    print(f"  orphan precision    {model['orphan_precision']:.3f}")
    print(f"  specialist review   {model['specialist_review_share']:.1%} of visits (top probability < 0.70)")
    print(f"  rows: in {validation['rows_in']}, clean {validation['rows_clean']}, quarantined "
          f"{validation['rows_quarantined']}, duplicates {validation['rows_duplicate']}")
    print("outputs:")
    for path in (config.ONNX_MODEL, config.MANIFEST, config.REPORTS / "metrics.json", config.REPORTS / "figures",
                 config.QUARANTINE):
        print(f"  {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gate_parser = commands.add_parser("gate", help="check metrics against the minimums in params.yaml (gate)")
    gate_parser.add_argument("--metrics", default=str(config.REPORTS / "metrics.json"))
    gate_parser.add_argument("--params", default=str(config.PARAMS_FILE))
    gate_parser.set_defaults(handler=gate)
    summary_parser = commands.add_parser("summary", help="print the headline metrics and where the outputs are")
    summary_parser.add_argument("--metrics", default=str(config.REPORTS / "metrics.json"))
    summary_parser.set_defaults(handler=summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
