"""`triage loop-demo` (`make loop-demo`): the monitoring loop end to end in a scratch clone."""

from __future__ import annotations

import shutil
import sys
import tempfile
from argparse import Namespace
from pathlib import Path

from triage.errors import ExitCode


def loop_demo(args: Namespace) -> int:
    from triage.tooling.loop_demo import DemoError, run_demo

    workdir = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="triage-loop-demo-"))
    if args.keep and workdir.exists() and any(workdir.iterdir()):
        print(f"loop-demo: {workdir} is not empty", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:
        demo = run_demo(workdir, args.visits, args.shift_visits, args.fast)
    except DemoError as error:
        print(f"\nloop-demo failed: {error}\n(commands and their output: {workdir / 'commands.log'})",
              file=sys.stderr)
        return ExitCode.FAILED_CHECK
    print("\n" + demo.summary())
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return ExitCode.OK
