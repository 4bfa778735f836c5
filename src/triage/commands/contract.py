"""`triage contract draft` and `triage contract check`: a draft data contract from an extract, and a check of one
(the file's rules, what the draft left to review, and an extract's row accounting under the pipeline's limit)."""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

from triage import config
from triage.contract import SIMULATED_CONTRACT, Contract, ContractFileError, load_contract
from triage.errors import ExitCode, UserError


def draft(args: Namespace) -> int:
    from triage.data.draft import draft_contract, extract_paths
    from triage.data.extracts import ExtractError

    reference_file = None if args.no_reference_codes else Path(args.reference_codes or SIMULATED_CONTRACT)
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"contract draft: {out} exists; choose another --out or pass --force", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:
        reference = load_contract(reference_file) if reference_file else None
        if getattr(args, "omop", None):
            from triage.data.omop.draft import draft_omop_contract

            text, notes = draft_omop_contract(args.omop, reference)
            summary = f"source.omop {args.omop}, {notes} guess(es) to review"
        else:
            text, drafted = draft_contract(extract_paths(Path(args.extract)), args.outcome, reference)
            summary = (f"{len(drafted.features)} features, outcome {drafted.outcome!r}, {drafted.review_count()} "
                       "guess(es) to review")
    except (ValueError, ExtractError, ContractFileError, OSError, UserError) as error:
        print(f"contract draft: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"draft contract written to {out}: {summary}")
    return ExitCode.OK


def check(args: Namespace) -> int:
    """The file's own rules, what the draft left to review, and with --extract the row accounting under the
    pipeline's limit (refused as `dvc repro` would refuse it)."""
    try:
        contract = load_contract(args.contract)
    except ContractFileError as error:
        print(f"contract check: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(f"{contract.path}: contract {contract.name} {contract.version} is valid: {len(contract.feature_names)} "
          f"features, classes {', '.join(contract.classes)}"
          + ("" if contract.has_orphan else " (no orphan class: the model will make no orphan decision)"))
    for note in contract.review_notes():
        print(f"  review: {note}")
    if args.extract:
        return check_extract(contract, Path(args.extract), Path(args.params or config.params_file()))
    return ExitCode.OK


def bad_fraction_limit(path: Path) -> float:
    """`validate.max_bad_fraction` of the params file, so the check refuses what `dvc repro` would refuse."""
    import yaml

    try:
        return float(config.load_params(path)["validate"]["max_bad_fraction"])
    except OSError as error:
        raise UserError(f"cannot read {path} for validate.max_bad_fraction ({error.strerror}); name the params file "
                        "with --params FILE or TRIAGE_PARAMS") from error
    except (yaml.YAMLError, TypeError, KeyError, ValueError) as error:
        raise UserError(f"{path} gives no number at validate.max_bad_fraction ({type(error).__name__}: {error}); "
                        "name another params file with --params FILE") from error


def check_extract(contract: Contract, target: Path, params: Path) -> int:
    """Ingest and validate an extract under the contract in memory: the row accounting, the top reasons, and the
    pipeline's limit on the quarantined share, enforced as `dvc repro` will (a `ValidationFailed`: one line and
    exit 2 through the CLI)."""
    from triage.data.draft import extract_paths
    from triage.data.ingest import extract_key
    from triage.data.validation import check_bad_fraction
    from triage.executors.local import run_in_memory

    limit = bad_fraction_limit(params)
    paths = extract_paths(target)
    key, simulated = extract_key(paths)
    _, _, accounting = run_in_memory(paths, contract, key, simulated, limit, lambda message: print(f"  {message}"))
    print(f"  rows in {accounting['rows_in']}: clean {accounting['rows_clean']}, quarantined "
          f"{accounting['rows_quarantined']} ({accounting['quarantine_share']:.2%}), duplicates "
          f"{accounting['rows_duplicate']}")
    for reason, count in list(accounting["reasons"].items())[:8]:
        print(f"    {count:6d}  {reason}")
    verdict = "above" if accounting["quarantine_share"] > limit else "within"
    print(f"  quarantined share {accounting['quarantine_share']:.2%}: {verdict} the limit "
          f"validate.max_bad_fraction = {limit:g} ({limit:.2%}) of {params}")
    check_bad_fraction(accounting, limit)
    return ExitCode.OK
