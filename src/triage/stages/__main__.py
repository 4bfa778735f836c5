"""`python -m triage.stages <name>` (what tools/stage runs): the stage's `main()`, with expected errors
(`triage.errors.UserError`) ending the stage on one line and exit 2; any other exception keeps its traceback.

Under a cloud compute profile (params `compute.profile`, or $TRIAGE_COMPUTE: `aws`, `standin`) a stage listed in
`compute.stages` is submitted as a job and waited for instead (`triage.cloud.submit`); it leaves the same outputs."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable

from triage.cloud.settings import compute_settings
from triage.config import load_params
from triage.errors import ExitCode, UserError


def submitted_or_run(name: str, main: Callable[[], None]) -> None:
    params = load_params()
    settings = compute_settings(params)
    if settings.target(name) is None:
        main()
        return
    from triage.cloud.submit import submit_stage

    submit_stage(name, params, settings, progress=lambda line: print(line, flush=True))


def run(name: str) -> int:
    module = importlib.import_module(f"triage.stages.{name}")
    try:
        submitted_or_run(name, module.main)
    except UserError as error:
        logging.getLogger(f"triage.{name}").error("%s", error)
        print(f"stage {name} failed: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m triage.stages <stage>")
    raise SystemExit(run(sys.argv[1]))
