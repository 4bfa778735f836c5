"""Pipeline benchmark: wall time and peak memory of every DVC stage on cohorts of several sizes.

    python benchmarks/pipeline.py --sizes 10000 100000            (make bench)
    python benchmarks/pipeline.py --sizes 10000 100000 1000000    (make bench-full)

Each size runs in a temporary copy of the repository (git init, params changed), stage by stage with
`dvc repro -s <stage>`, so the figures include DVC's own overhead per stage; peak memory is the largest resident set
of the stage process tree (wait4). Ends with the time of a no-op `dvc repro` and the cost per 1,000 visits, to show
how the cost grows with size.
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

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ("reference", "simulate", "ingest", "validate", "split", "resample", "train", "evaluate", "export")


def copy_repository(target: Path, n_visits: int) -> None:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    params = yaml.safe_load((target / "params.yaml").read_text())
    params["simulate"]["n_visits"] = n_visits
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "bench"]):
        subprocess.run(command, cwd=target, check=True)


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command and its waited-for children."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def bench_size(n_visits: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix=f"triage-bench-{n_visits}-") as directory:
        workspace = Path(directory)
        copy_repository(workspace, n_visits)
        results = {}
        for stage in STAGES:
            results[stage] = measure(["dvc", "repro", "-s", stage], workspace)
            print(f"  {n_visits:>9,} visits  {stage:<10} {results[stage][0]:7.1f} s  {results[stage][1]:7.0f} MB",
                  flush=True)
        results["no-op repro"] = measure(["dvc", "repro"], workspace)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    sizes = parser.parse_args().sizes
    table = {}
    for size in sizes:
        print(f"running the pipeline on {size:,} visits …", flush=True)
        table[size] = bench_size(size)
    print("\nstage        " + "".join(f"{size:>22,}" for size in sizes))
    for stage in (*STAGES, "no-op repro"):
        print(f"{stage:<12} " + "".join(f"{table[s][stage][0]:>10.1f} s {table[s][stage][1]:>6.0f} MB"
                                        for s in sizes))
    totals = {s: sum(table[s][stage][0] for stage in STAGES) for s in sizes}
    peaks = {s: max(table[s][stage][1] for stage in STAGES) for s in sizes}
    print(f"{'total':<12} " + "".join(f"{totals[s]:>10.1f} s {peaks[s]:>6.0f} MB" for s in sizes))
    print("seconds per 1,000 visits: " + ", ".join(f"{s:,}: {1000 * totals[s] / s:.2f}" for s in sizes))


if __name__ == "__main__":
    main()
