"""The data stages (ingest, validate, split) on each executor, side by side in one run: rows per second per core.

    python benchmarks/data_stages.py --visits 1000000
    python benchmarks/data_stages.py --visits 1000000 --engines local spark-cluster

One scratch copy of the repository simulates the cohort once; then, for each engine, `dvc repro -s` of ingest,
validate and split with `data.executor` set for it, timed and with the peak memory of the stage's process tree
(the driver's, for Spark: a standalone cluster's workers are other processes, their peak is read from /proc while the
stage runs). Engines: `local` (the embedded default: one Python process for the kernel, DuckDB on 2 threads),
`spark-local` (Spark `local[2]`: one JVM, 2 task slots) and `spark-cluster` (the project's standalone cluster: a
master and 2 workers of 1 core on 127.0.0.1). Cores are the task slots each engine is given on this 2-core machine.
The accountings of all engines must be equal, or the run stops.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import copy_repository, measure  # noqa: E402

STAGES = ("ingest", "validate", "split")
CORES = {"local": 2, "spark-local": 2, "spark-cluster": 2}


def set_executor(workspace: Path, executor: object) -> None:
    params_file = workspace / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["data"]["executor"] = executor
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def peak_rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


class WorkerMemory(threading.Thread):
    """Polls the cluster's worker process trees (the executors are their children) for their summed peak RSS."""

    def __init__(self, cluster) -> None:
        super().__init__(daemon=True)
        self.cluster, self.peak, self.running = cluster, 0.0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, peak_rss_mb(self.cluster.pids() - {self.cluster.state.master.pid}))
            time.sleep(0.5)


def bench_engine(workspace: Path, engine: str, cluster) -> dict[str, tuple[float, float]]:
    master = {"spark-local": "local[2]", "spark-cluster": cluster.master_url if cluster else None}.get(engine)
    set_executor(workspace, "local" if engine == "local" else {"engine": "spark", "master": master})
    results = {}
    for stage in STAGES:
        watcher = WorkerMemory(cluster) if engine == "spark-cluster" else None
        if watcher:
            watcher.start()
        seconds, driver_mb = measure(["dvc", "repro", "-s", "-f", stage], workspace)
        if watcher:
            watcher.running = False
            watcher.join()
        results[stage] = (seconds, driver_mb + (watcher.peak if watcher else 0.0))
    results["accounting"] = json.loads((workspace / "reports/validation.json").read_text())
    return results


def report(visits: int, rows: int, table: dict[str, dict]) -> None:
    print(f"\n{visits:,} visits ({rows:,} rows read by ingest); rows per second per core (seconds, peak MB)")
    print("stage      " + "".join(f"{engine:>32}" for engine in table))
    for stage in STAGES:
        cells = []
        for engine, results in table.items():
            seconds, peak = results[stage]
            cells.append(f"{rows / seconds / CORES[engine]:>10,.0f}/s/core ({seconds:6.1f} s, {peak:5.0f} MB)")
        print(f"{stage:<10} " + "".join(f"{cell:>32}" for cell in cells))
    totals = {engine: sum(results[stage][0] for stage in STAGES) for engine, results in table.items()}
    print("total      " + "".join(f"{rows / total / CORES[engine]:>10,.0f}/s/core ({total:6.1f} s){'':>9}"
                                  for engine, total in totals.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--engines", nargs="+", default=list(CORES), choices=list(CORES))
    args = parser.parse_args()
    os.environ.pop("TRIAGE_SPARK_MASTER", None)
    with tempfile.TemporaryDirectory(prefix="triage-data-stages-") as directory:
        workspace = Path(directory) / "repo"
        workspace.mkdir()
        copy_repository(workspace, {("simulate", "n_visits"): args.visits})
        for stage in ("reference", "simulate"):
            seconds, _ = measure(["dvc", "repro", "-s", stage], workspace)
            print(f"{stage}: {seconds:.1f} s", flush=True)
        table = {}
        cluster = None
        try:
            if "spark-cluster" in args.engines:
                from triage.tooling.spark import StandaloneCluster

                cluster = StandaloneCluster(Path(directory) / "spark", workers=2, cores_per_worker=1,
                                            memory_per_worker="4g")
                cluster.up()
            for engine in args.engines:
                print(f"{engine} …", flush=True)
                table[engine] = bench_engine(workspace, engine, cluster)
                print("  " + ", ".join(f"{stage} {table[engine][stage][0]:.1f} s" for stage in STAGES), flush=True)
        finally:
            if cluster is not None:
                cluster.down()
        accountings = [results.pop("accounting") for results in table.values()]
        if any(accounting != accountings[0] for accounting in accountings):
            raise SystemExit("the engines' accountings differ: " + json.dumps(accountings)[:2000])
        report(args.visits, accountings[0]["rows_in"], table)


if __name__ == "__main__":
    main()
