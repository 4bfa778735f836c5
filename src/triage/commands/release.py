"""`triage retrain`, `triage report`, `triage promotion-check`, `triage ci-environment`: from a new extract to a
promoted model, the pull-request report, the deploy's checks. `python -m triage.commands.release --ref REF` is
`ci-environment` without the installed project (the deploy workflow runs it before any install: it needs the standard
library only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from triage.errors import ExitCode


def retrain(args: argparse.Namespace) -> int:
    """A labelled extract added, `dvc repro`, the gate; on pass commit, register and promote to dev."""
    from triage.release.retrain import RetrainError
    from triage.release.retrain import retrain as run_retrain
    from triage_shared.artifacts import ARTIFACT

    try:
        extract = Path(args.extract).resolve() if args.extract else None
        result = run_retrain(Path(args.repo).resolve(), extract, args.env, args.push)
    except RetrainError as error:
        print(f"retrain: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    for line in result.gate_lines:
        print(line)
    if not result.gate_passed:
        print("quality gate FAILED: no version registered, nothing promoted; the work tree keeps the run for "
              "inspection")
        return ExitCode.FAILED_CHECK
    print(f"registered {ARTIFACT}@{result.version} ({result.commit[:8]}) and promoted it to {result.stage}")
    return ExitCode.OK


def report(args: argparse.Namespace) -> int:
    """The pull-request report against a base ref: FAILED_CHECK when the gate fails (the workflow fails with it)."""
    from triage.release.ci_report import ReportError, build_report

    try:
        _, passed = build_report(Path(args.repo).resolve(), args.base, Path(args.out))
    except (ReportError, OSError, ValueError, KeyError) as error:
        print(f"report: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(f"report written to {Path(args.out) / 'report.md'}; quality gate {'passed' if passed else 'FAILED'}")
    return ExitCode.OK if passed else ExitCode.FAILED_CHECK


def promotion_check(args: argparse.Namespace) -> int:
    """The promoted version's parity, gate, latency budget and model card: FAILED_CHECK refuses the deploy."""
    from triage.release.promotion import promotion_checks
    from triage.release.registry import RegistryError

    try:
        tag, checks = promotion_checks(Path(args.repo), args.env, args.remote)
    except RegistryError as error:
        print(f"promotion-check: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(f"promotion check of {tag} for {args.env}:")
    for check in checks:
        print(f"  {check}")
    passed = all(check.passed for check in checks)
    print(f"promotion {'allowed' if passed else 'REFUSED'}")
    return ExitCode.OK if passed else ExitCode.FAILED_CHECK


def ci_environment(args: argparse.Namespace) -> int:
    """`environment=dev|prod`, where a GitHub ref deploys, for $GITHUB_OUTPUT."""
    from triage.release.ci_environment import RefError, environment_for_ref

    try:
        print(f"environment={environment_for_ref(args.ref, args.input)}")
    except RefError as error:
        print(f"ci-environment: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    return ExitCode.OK


def add_ci_environment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", required=True, help="e.g. refs/heads/main or refs/tags/triage-model#prod#3")
    parser.add_argument("--input", default="", help="the environment chosen in a manual run (workflow_dispatch)")


if __name__ == "__main__":
    standalone = argparse.ArgumentParser(prog="python -m triage.commands.release", description=ci_environment.__doc__)
    add_ci_environment_arguments(standalone)
    raise SystemExit(ci_environment(standalone.parse_args()))
