"""Evaluate and profile memory against the size of the parts they score: the stages run on the workspace's own
validation and test parts, repeated to 1x, 10x and 100x their rows, side by side for each source tree given.

    dvc repro                                   # a trained workspace first (the default cohort: 20,000 test rows)
    python benchmarks/scoring_memory.py --repeats 1 10 100
    python benchmarks/scoring_memory.py --src before=/path/to/old/src --src now=src   # two versions, one run

Each (source tree, size) gets a scratch folder with params.yaml, the contract, the simulation's generative model,
the trained models and the repeated parts; `python -m triage.stages evaluate` and `... profile` run there with the
tree on PYTHONPATH, timed, with their peak resident memory (wait4). The sizes run in rounds, every tree at one size
before the next size, so the machine's load falls on all of them alike.
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

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
STAGES = ("evaluate", "profile")
COPIED = ("params.yaml", "data/contracts", "data/simulation", "models")


def repeated_part(source: Path, target: Path, repeats: int) -> int:
    """`source` written `repeats` times into one Parquet file (row groups of the source's size); its rows."""
    table = pq.read_table(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(target, table.schema) as writer:
        for _ in range(repeats):
            writer.write_table(table)
    return table.num_rows * repeats


def scratch(folder: Path, repeats: int) -> int:
    """A workspace with the repository's trained models and its parts repeated; the test part's rows."""
    for name in COPIED:
        source, target = REPO / name, folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    repeated_part(REPO / "data/processed/valid.parquet", folder / "data/processed/valid.parquet", repeats)
    return repeated_part(REPO / "data/processed/test.parquet", folder / "data/processed/test.parquet", repeats)


def run_stage(stage: str, folder: Path, src: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one stage (the child's own peak, from wait4)."""
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{src.parent / 'service'}"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "triage.stages", stage], cwd=folder, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{stage} with {src} failed: {stderr.decode()[-2000:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--src", action="append", default=[], metavar="NAME=PATH",
                        help="a source tree to measure (default: this repository's src)")
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.src) or {"now": str(REPO / "src")}
    if not (REPO / "models/pipeline.joblib").exists():
        raise SystemExit("no trained workspace: run `dvc repro` first")
    print(f"{'tree':<10}{'test rows':>12}" + "".join(f"{stage + ' s':>14}{stage + ' MB':>14}" for stage in STAGES))
    for repeats in args.repeats:
        with tempfile.TemporaryDirectory(prefix="triage-scoring-") as directory:
            base = Path(directory) / "workspace"
            rows = scratch(base, repeats)
            for name, src in trees.items():
                cells = [run_stage(stage, base, Path(src).resolve()) for stage in STAGES]
                print(f"{name:<10}{rows:>12,}" + "".join(f"{s:>14.1f}{mb:>14,.0f}" for s, mb in cells), flush=True)


if __name__ == "__main__":
    main()
