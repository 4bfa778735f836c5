"""Peak memory and wall time of the simulator alone (triage.simulation.cohort.simulate_cohort) at several sizes.

    python benchmarks/simulate_memory.py --visits 100000 1000000
    python benchmarks/simulate_memory.py --visits 10000000 --batch-visits 200000

Not a test: a measurement, so that the claim "simulate's memory is bounded by its batch, not by the cohort" can be
checked at 1M and 10M visits on the machine at hand. Each size runs in its own child process, in a temporary
directory holding copies of data/reference and data/contracts (the repository's data/simulation is never touched),
and the figures are that child's: peak resident set from wait4 (what `/usr/bin/time -v` calls "Maximum resident set
size") and wall seconds. --src points at another source tree (a copy of an older commit, say) to measure before and
after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INPUTS = ("data/reference", "data/contracts")  # what the simulator reads, by repository-relative path
CHILD = """
import sys
from triage import config
from triage.simulation.cohort import simulate_cohort
settings = config.load_params(sys.argv[1])["simulate"]
settings["n_visits"] = int(sys.argv[2])
if sys.argv[3] != "default":
    settings["batch_visits"] = int(sys.argv[3])
simulate_cohort(settings, config.load_params(sys.argv[1])["base"]["seed"], progress=lambda line: None)
"""


def measure(visits: int, batch: str, src: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, bytes written) of one simulation of `visits` in a fresh child process."""
    with tempfile.TemporaryDirectory(prefix="simulate-memory-") as scratch:
        work = Path(scratch)
        for folder in INPUTS:
            shutil.copytree(REPO / folder, work / folder)
        env = {**os.environ, "PYTHONPATH": str(src)}
        command = [sys.executable, "-c", CHILD, str(REPO / "params.yaml"), str(visits), batch]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=work, env=env, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
        if status != 0:
            raise SystemExit(f"simulate of {visits} visits failed:\n{error[-2000:]}")
        written = sum(p.stat().st_size for p in (work / "data" / "simulation").rglob("*") if p.is_file())
        return elapsed, usage.ru_maxrss / 1024, written  # ru_maxrss is in KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch-visits", default="default",
                        help="simulate.batch_visits for the run (default: the code's own default)")
    parser.add_argument("--src", type=Path, default=REPO / "src", help="source tree to measure (PYTHONPATH)")
    args = parser.parse_args(argv)
    print(f"{'visits':>12} {'seconds':>9} {'peak MB':>9} {'written MB':>11}  (batch: {args.batch_visits})")
    for visits in args.visits:
        seconds, peak, written = measure(visits, args.batch_visits, args.src.resolve())
        print(f"{visits:>12,} {seconds:>9.1f} {peak:>9.0f} {written / 2**20:>11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
