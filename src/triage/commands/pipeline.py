"""`triage gate`, `triage summary`, `triage search`: the pipeline's results, checked, shown and searched."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

from triage import config
from triage.errors import ExitCode


def gate(args: Namespace) -> int:
    """Every applicable line of the quality gate: OK when each passes, FAILED_CHECK when one fails."""
    from triage.release.gate import check_gate, provenance_lines

    metrics_file = Path(args.metrics)
    if not metrics_file.exists():
        print(f"gate: {metrics_file} not found; run `dvc repro` first", file=sys.stderr)
        return ExitCode.BAD_INPUT
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    params = config.load_params(args.params)
    lines = [*provenance_lines(metrics, params), *check_gate(metrics, params["gate"])]
    for line in lines:
        print(line)
    failed = [line for line in lines if not line.passed]
    print("quality gate: " + ("FAILED" if failed else "passed"))
    return ExitCode.FAILED_CHECK if failed else ExitCode.OK


def summary(args: Namespace) -> int:
    """The headline metrics of the last run and where its outputs are (the end of `make run`)."""
    from triage.evaluation.summary import evidence_note, orphan_lines
    from triage.tables import read_json

    metrics = read_json(Path(args.metrics))
    model, bayes = metrics["model"], metrics.get("bayes_limit")
    validation = read_json(config.VALIDATION_REPORT)
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
    note = evidence_note(metrics, int(config.load_params(args.params)["gate"]["min_cases"]))
    if note:
        print(note)
    print(f"  rows: in {validation['rows_in']}, clean {validation['rows_clean']}, quarantined "
          f"{validation['rows_quarantined']}, duplicates {validation['rows_duplicate']}")
    print("outputs:")
    for path in (config.ONNX_MODEL, config.MANIFEST, config.METRICS, config.REPORTS / "figures", config.QUARANTINE):
        print(f"  {path}")
    return ExitCode.OK


def search(args: Namespace) -> int:
    """Optuna over the model's hyperparameters, each trial a DVC experiment; the winner only beyond noise."""
    from triage.search.study import (
        TRIALS_DIR,
        best_trial,
        print_summary,
        run_best_command,
        study_summary,
        workspace_is_current,
    )
    from triage.search.study import search as run_search

    params = config.load_params(args.params)
    settings = params["search"]
    save = not args.no_save
    if save and not workspace_is_current():
        print("triage search saves every trial as a DVC experiment of this workspace: run `dvc repro` (and commit) "
              "first so `dvc status` is clean, or pass --no-save", file=sys.stderr)
        return ExitCode.BAD_INPUT
    trials, folds = args.trials or settings["trials"], args.folds or settings["folds"]
    study, seconds = run_search(params, trials, folds, args.name, save, args.timeout)
    outcome = study_summary(study, args.name, folds, seconds)
    TRIALS_DIR.mkdir(parents=True, exist_ok=True)
    (TRIALS_DIR / "study.json").write_text(json.dumps(outcome, indent=2) + "\n", encoding="utf-8")
    print_summary(outcome, params["evaluate"]["orphan_recall_target"])
    run_best = run_best_command(args.name, best_trial(study).params)
    keep = "git add params.yaml dvc.lock reports models/reference_profile.json; git commit"
    if not outcome["gain_over_default"]["beyond_noise"]:
        print(f"keeping the current params is as good on this evidence; to try the winner anyway: "
              f"{' '.join(run_best)}")
        return ExitCode.OK
    if not args.run_best:
        print(f"next: {' '.join(run_best)}; dvc exp apply {args.name}-best; {keep}")
        return ExitCode.OK
    print("running", " ".join(run_best))
    subprocess.run([sys.executable, "-m", *run_best], check=True)
    print(f"the workspace now holds {args.name}-best (dvc exp run applies it; `dvc exp apply {args.name}-best` brings "
          f"it back later): compare with `dvc metrics diff`, then keep it: {keep}")
    return ExitCode.OK
