"""`triage monitor` and `triage simulate-shift`: an environment's predictions against the training reference, and a
drifted cohort to test that with."""

from __future__ import annotations

import json
import logging
import sys
from argparse import Namespace
from pathlib import Path

from triage import config
from triage.errors import ExitCode


def monitor(args: Namespace) -> int:
    """OK without drift, DRIFT with drift, BAD_INPUT when no verdict can be reached."""
    from triage.monitoring.monitor import MonitorError, MonitorRequest, default_source, load_profile, run_monitor
    from triage.monitoring.report import labelled_orphan_text
    from triage_shared.store import StoreError

    logging.getLogger("botocore").setLevel(logging.WARNING)
    source = args.log or default_source(args.env)
    try:
        profile = load_profile(args.profile, source, args.env)
        request = MonitorRequest(env=args.env, source=source, profile=profile,
                                 params=config.load_params(args.params),
                                 out_dir=Path(args.out or f"reports/drift/{args.env}"),
                                 labels_file=Path(args.labels) if args.labels else None, window=args.window)
        report = run_monitor(request)
    except (MonitorError, StoreError, OSError) as error:
        print(f"monitor: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    verdict = "DRIFT DETECTED" if report["drift_detected"] else "no drift"
    print(f"monitor {args.env}: {verdict} ({report['window']['rows']} predictions of model "
          f"{report['model']['sha256'][:12]} from {len(report['sources'])} log file(s); "
          f"{report['unreadable_lines']} unreadable line(s))")
    for reason in report["reasons"]:
        print(f"  - {reason}")
    if "labelled" in report:
        labelled = report["labelled"]
        print(f"  labelled visits: {labelled['rows']}, macro-F1 {labelled['macro_f1']:.3f}, "
              f"{labelled_orphan_text(labelled)}")
    for kind, path in report["paths"].items():
        print(f"  {kind:8s} {path}")
    return ExitCode.DRIFT if report["drift_detected"] else ExitCode.OK


def simulate_shift(args: Namespace) -> int:
    """A labelled raw extract (what a hospital sends later) and the matching prediction requests."""
    from triage.simulation.generative import GenerativeModel
    from triage.simulation.shift import api_records, sample_reference, sample_shifted

    params = config.load_params(args.params)
    if not config.GENERATIVE_MODEL.exists():
        print(f"simulate-shift: {config.GENERATIVE_MODEL} is missing: run `dvc repro simulate` first", file=sys.stderr)
        return ExitCode.BAD_INPUT
    model = GenerativeModel.load(config.GENERATIVE_MODEL)
    frame = sample_reference(model, params["simulate"], args.visits, args.seed) if args.reference else \
        sample_shifted(model, params["simulate"]["shift"], args.visits, args.seed)
    frame["visit_id"] = [f"S{args.seed:04d}-{i:07d}" for i in range(len(frame))]  # unique across draws
    extract, requests = Path(args.extract), Path(args.requests)
    extract.parent.mkdir(parents=True, exist_ok=True)
    requests.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(extract, index=False)
    requests.write_text(json.dumps({"patients": api_records(frame), "visit_ids": frame["visit_id"].tolist()}),
                        encoding="utf-8")
    kind = "training-distribution" if args.reference else "shifted"
    print(f"{kind} cohort: {len(frame)} visits -> {extract} (labelled extract), {requests} (requests)")
    return ExitCode.OK
