"""`triage` command line: quality gate, run summary, local S3 server, model registry and model bucket."""

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


def s3(args: argparse.Namespace) -> int:
    from triage.s3server import LocalS3, S3ServerError

    server = LocalS3(Path(args.root), args.port, args.bucket)
    try:
        if args.action == "up":
            if server.running_pid():
                print(f"S3 already running at {server.endpoint} (pid {server.running_pid()})")
            else:
                server.start()
                print(f"S3 (SeaweedFS) listening on {server.endpoint}, bucket {server.bucket}, data in {server.root}")
            configure_dvc_remote(server)
        elif args.action == "down":
            print("stopped" if server.stop() else "no S3 server was running from " + str(server.root))
        elif args.action == "status":
            pid = server.running_pid()
            print(f"running at {server.endpoint} (pid {pid})" if pid else "not running")
            return 0 if pid else 1
        elif args.action == "env":
            for key, value in server.environment().items():
                print(f"export {key}={value}")
    except S3ServerError as error:
        print(f"s3: {error}", file=sys.stderr)
        return 1
    return 0


def configure_dvc_remote(server) -> None:
    """Point the `s3` DVC remote at this server; the keys go to .dvc/config.local, which git ignores."""
    import subprocess

    settings = {"endpointurl": server.endpoint, "access_key_id": server.credentials.access_key,
                "secret_access_key": server.credentials.secret_key}
    for key, value in settings.items():
        subprocess.run(["dvc", "remote", "modify", "--local", "s3", key, value], check=True)
    print("dvc remote 's3' configured (.dvc/config.local); `eval $(triage s3 env)` exports the same for clients")


def registry(args: argparse.Namespace) -> int:
    from triage.registry import sync_artifacts_yaml

    print(f"wrote {sync_artifacts_yaml(Path(args.repo))}")
    return 0


def publish(args: argparse.Namespace) -> int:
    from triage.registry import RegistryError
    from triage.registry import publish as publish_model
    from triage_store import ModelStore, StoreError

    try:
        store = ModelStore.from_env(args.bucket, args.endpoint)
        manifest = publish_model(Path(args.repo), args.stage, store, remote=args.remote)
    except (RegistryError, StoreError) as error:
        print(f"publish: {error}", file=sys.stderr)
        return 1
    registry_info = manifest["registry"]
    print(f"published {registry_info['tag']} to s3://{store.bucket}/models/triage/{args.stage}/")
    print(f"  sha256  {manifest['onnx']['sha256']}")
    print("  metrics " + ", ".join(f"{k}={v}" for k, v in manifest["metrics"].items()))
    return 0


def pull_model(args: argparse.Namespace) -> int:
    from triage_store import ModelStore, StoreError

    try:
        manifest = ModelStore.from_env(args.bucket, args.endpoint).pull(args.stage, Path(args.dest))
    except StoreError as error:
        print(f"pull-model: {error}", file=sys.stderr)
        return 1
    print(f"pulled {manifest['name']} {manifest['version']} ({args.stage}) into {args.dest}: sha256 verified "
          f"{manifest['onnx']['sha256'][:16]}…")
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

    s3_parser = commands.add_parser("s3", help="the local S3-compatible server (SeaweedFS on 127.0.0.1)")
    s3_parser.add_argument("action", choices=["up", "down", "status", "env"])
    s3_parser.add_argument("--root", default=".s3", help="data, credentials, pid and log (default .s3)")
    s3_parser.add_argument("--port", type=int, default=8333)
    s3_parser.add_argument("--bucket", default="triage")
    s3_parser.set_defaults(handler=s3)

    registry_parser = commands.add_parser("registry", help="model registry helpers")
    registry_parser.add_argument("action", choices=["sync"], help="sync: write artifacts.yaml from dvc.yaml")
    registry_parser.add_argument("--repo", default=".")
    registry_parser.set_defaults(handler=registry)

    for name, handler, help_text in (
            ("publish", publish, "publish the version promoted to a stage to s3://BUCKET/models/triage/<stage>/"),
            ("pull-model", pull_model, "download and verify a stage's model from the bucket")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--stage", required=True, choices=["dev", "prod"])
        sub.add_argument("--bucket", default=None, help="default: $TRIAGE_BUCKET")
        sub.add_argument("--endpoint", default=None, help="S3 endpoint URL (default: $TRIAGE_S3_ENDPOINT, else AWS)")
        if name == "publish":
            sub.add_argument("--repo", default=".", help="the git repository holding the registry tags")
            sub.add_argument("--remote", default="s3", help="the DVC remote holding the model versions")
        else:
            sub.add_argument("--dest", required=True)
        sub.set_defaults(handler=handler)

    add_contract_parser(commands)
    add_monitor_parser(commands)
    add_shift_parser(commands)
    add_retrain_parser(commands)
    add_loop_demo_parser(commands)
    add_report_parser(commands)
    add_ci_parsers(commands)
    return parser


def add_contract_parser(commands) -> None:
    parser = commands.add_parser("contract", help="data contracts: draft one from an extract, check one")
    actions = parser.add_subparsers(dest="action", required=True)
    draft = actions.add_parser("draft", help="profile an extract (CSV, Parquet or a directory of them) and write a "
                               "draft contract to edit")
    draft.add_argument("--extract", required=True)
    draft.add_argument("--outcome", default=None, help="the outcome (diagnosis) column, if its name does not say so")
    draft.add_argument("--out", default="data/contracts/draft.yaml")
    draft.add_argument("--force", action="store_true", help="overwrite --out")
    draft.add_argument("--reference-codes", default=None, metavar="CONTRACT", help="a contract whose outcome map "
                       "pre-fills the draft's (default: the default contract's ICD-10 and ORPHA prefixes)")
    draft.add_argument("--no-reference-codes", action="store_true", help="leave every outcome code unmapped")
    draft.set_defaults(handler=lambda args: _lazy("triage.contract.draft", args))
    check = actions.add_parser("check", help="validate a contract file (and optionally an extract under it)")
    check.add_argument("contract")
    check.add_argument("--extract", default=None, help="ingest and validate this extract (or directory) in memory")
    check.set_defaults(handler=lambda args: _lazy("triage.contract.draft", args, "check_command"))


def add_monitor_parser(commands) -> None:
    parser = commands.add_parser("monitor", help="compare an environment's recent predictions with the training "
                                 "reference; exit 3 on drift")
    parser.add_argument("--env", required=True, choices=["dev", "prod"])
    parser.add_argument("--log", default=None, help="prediction log: a file, a directory of pushed segments, or "
                        "s3://BUCKET/predictions/<env>/ (default: the bucket when $TRIAGE_BUCKET is set, else "
                        "$TRIAGE_LOG_DIR/predicciones_<env>.txt)")
    parser.add_argument("--profile", default=None, help="reference profile JSON (default: published beside the "
                        "stage's model, else models/reference_profile.json)")
    parser.add_argument("--labels", default=None, help="a labelled extract (visit_id, diagnosis_code) to join")
    parser.add_argument("--window", type=int, default=None, help="most recent predictions (default: monitor.window)")
    parser.add_argument("--out", default=None, help="report directory (default reports/drift/<env>)")
    parser.add_argument("--params", default="params.yaml")
    parser.set_defaults(handler=lambda args: _lazy('triage.monitoring.monitor', args))


def add_shift_parser(commands) -> None:
    parser = commands.add_parser("simulate-shift", help="draw visits of the shifted cohort (params simulate.shift) "
                                 "as a labelled raw extract and as prediction requests")
    parser.add_argument("--visits", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reference", action="store_true", help="draw from the training distribution instead")
    parser.add_argument("--extract", required=True, help="labelled extract to write (CSV, the raw contract)")
    parser.add_argument("--requests", required=True, help="batch requests to write (JSON: patients + visit_ids)")
    parser.add_argument("--params", default="params.yaml")
    parser.set_defaults(handler=lambda args: _lazy("triage.cohort.shift", args))


def add_retrain_parser(commands) -> None:
    parser = commands.add_parser("retrain", help="add a labelled extract, dvc repro, gate; if it passes, commit, "
                                 "register the next version and promote it to dev (exit 4 when the gate fails)")
    parser.add_argument("--extract", default=None, help="the new labelled extract (CSV or Parquet, under the data "
                        "contract); without it, retrain on the extracts already landed and committed in "
                        "data.incoming_dir (the batch intake's path)")
    parser.add_argument("--repo", default=".")
    parser.add_argument("--stage", default="dev", choices=["dev"], help="prod stays a human decision")
    parser.add_argument("--push", default=None, metavar="REMOTE", help="dvc push to this remote before registering")
    parser.set_defaults(handler=lambda args: _lazy("triage.retrain", args))


def add_loop_demo_parser(commands) -> None:
    parser = commands.add_parser("loop-demo", help="the monitoring loop end to end in a scratch clone: drift, "
                                 "monitor, retrain, gate, register, publish, reload")
    parser.add_argument("--visits", type=int, default=None, help="cohort size (default: params simulate.n_visits)")
    parser.add_argument("--shift-visits", type=int, default=2000, help="drifted visits sent to the service")
    parser.add_argument("--fast", action="store_true", help="fewer trees and bootstrap rounds (CI)")
    parser.add_argument("--keep", default=None, metavar="DIR", help="work in DIR and keep it (default: a temporary "
                        "directory, removed after a successful run)")
    parser.set_defaults(handler=lambda args: _lazy("triage.loop_demo", args))


def add_report_parser(commands) -> None:
    parser = commands.add_parser("report", help="the pull-request report (markdown + images) against a base ref; "
                                 "exit 1 when the quality gate fails")
    parser.add_argument("--base", required=True, help="git ref to compare with, e.g. origin/main")
    parser.add_argument("--out", default="reports/cml", help="output directory (report.md and images)")
    parser.add_argument("--repo", default=".")
    parser.set_defaults(handler=lambda args: _lazy("triage.ci_report", args))


def add_ci_parsers(commands) -> None:
    check = commands.add_parser("promotion-check", help="the promoted version's parity, quality gate, latency budget "
                                "and model card (exit 1 refuses the deploy)")
    check.add_argument("--stage", required=True, choices=["dev", "prod"])
    check.add_argument("--repo", default=".")
    check.add_argument("--remote", default="s3", help="the DVC remote holding the model versions")
    check.set_defaults(handler=lambda args: _lazy("triage.promotion", args))
    stage = commands.add_parser("ci-stage", help="the deployment stage of a GitHub ref (develop -> dev, main -> "
                                "prod, a registry tag -> its stage)")
    stage.add_argument("--ref", required=True, help="e.g. refs/heads/main or refs/tags/triage-model#prod#3")
    stage.add_argument("--input", default="", help="the stage chosen in a manual run (workflow_dispatch)")
    stage.set_defaults(handler=lambda args: __import__("triage.ci_stage").ci_stage.main(
        ["--ref", args.ref, "--input", args.input]))


def _lazy(module: str, args: argparse.Namespace, function: str = "command") -> int:
    """Run a command whose module is heavy (pandas, scipy) only when that command is chosen."""
    import importlib

    return getattr(importlib.import_module(module), function)(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
