"""`python -m triage.stages <name>` (what tools/stage runs): the stage's `main()`, with expected errors
(`triage.errors.UserError`) ending the stage on one line and exit 2; any other exception keeps its traceback."""

from __future__ import annotations

import importlib
import logging
import sys

from triage.errors import EXIT_USER_ERROR, UserError


def run(name: str) -> int:
    module = importlib.import_module(f"triage.stages.{name}")
    try:
        module.main()
    except UserError as error:
        logging.getLogger(f"triage.{name}").error("%s", error)
        print(f"stage {name} failed: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m triage.stages <stage>")
    raise SystemExit(run(sys.argv[1]))
