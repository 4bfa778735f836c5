"""The data stages (ingest, validate, split) on each executor, side by side in one run: rows per second per core.

    python benchmarks/data_stages.py --visits 1000000
    python benchmarks/data_stages.py --visits 1000000 --engines local spark-cluster

One scratch copy of the repository simulates the cohort once; then, for each engine, `dvc repro -s` of ingest,
validate and split with `data.executor` set for it, timed, with the peak of the summed resident memory of the
stage's process tree (for Spark: the driver, its JVM and Python workers) and of a standalone cluster's workers and
executors, polled from /proc while the stage runs. Engines: `local` (the embedded default: one Python process for
the kernel, DuckDB on 2 threads), `spark-local` (Spark `local[2]`: one JVM, 2 task slots) and `spark-cluster` (the
project's standalone cluster: a master and 2 workers of 1 core on 127.0.0.1) and `spark-local-store` (`local[2]`
with `data.executor.store` on a SeaweedFS bucket started here: every part goes through the S3 API, as on a cluster of
several hosts; SeaweedFS's own memory is not counted, its CPU shares the same 2 cores). Cores are the task slots
each engine is given on this 2-core machine.
The accountings of all engines must be equal, or the run stops.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import ENV, copy_repository, measure  # noqa: E402

STAGES = ("ingest", "validate", "split")
CORES = {"local": 2, "spark-local": 2, "spark-cluster": 2, "spark-local-store": 2}
STORE = "s3://triage/stages"


def set_executor(workspace: Path, executor: object) -> None:
    params_file = workspace / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["data"]["executor"] = executor
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def descendants(root: int) -> set[int]:
    """`root` and every process below it (from /proc: the children lists of each task)."""
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        found.add(pid)
        for task in Path(f"/proc/{pid}/task").glob("*") if Path(f"/proc/{pid}/task").exists() else []:
            try:
                pending += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


class TreeMemory(threading.Thread):
    """The peak of the summed resident memory of a process tree (the stage, its JVM and Python workers) and of a
    standalone cluster's workers and their executors, polled twice a second."""

    def __init__(self, root: int, cluster) -> None:
        super().__init__(daemon=True)
        self.root, self.cluster, self.peak, self.running = root, cluster, 0.0, True

    def run(self) -> None:
        while self.running:
            pids = descendants(self.root)
            if self.cluster is not None:
                for worker in self.cluster.state.workers:
                    pids |= descendants(worker.pid) if worker.pid else set()
            self.peak = max(self.peak, rss_mb(pids))
            time.sleep(0.5)


def measure_tree(command: list[str], cwd: Path, cluster) -> tuple[float, float]:
    """Wall seconds and the peak summed memory (MB) of the stage's process tree (and the cluster's workers)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watcher = TreeMemory(process.pid, cluster)
    watcher.start()
    _, stderr = process.communicate()
    watcher.running = False
    watcher.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {stderr.decode()[-2000:]}")
    return time.perf_counter() - started, watcher.peak


def bench_engine(workspace: Path, engine: str, cluster) -> dict[str, tuple[float, float]]:
    master = {"spark-local": "local[2]", "spark-local-store": "local[2]",
              "spark-cluster": cluster.master_url if cluster else None}.get(engine)
    store = {"store": STORE} if engine.endswith("-store") else {}
    set_executor(workspace, "local" if engine == "local" else {"engine": "spark", "master": master, **store})
    results = {stage: measure_tree(["dvc", "repro", "-s", "-f", stage], workspace, cluster if engine ==
                                   "spark-cluster" else None) for stage in STAGES}
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
        cluster = bucket = None
        try:
            if any(engine.endswith("-store") for engine in args.engines):
                from triage.tooling.s3server import LocalS3, free_port

                bucket = LocalS3(Path(directory) / "s3", port=free_port(), bucket="triage")
                bucket.start()
                ENV.update(bucket.environment())
            if "spark-cluster" in args.engines:
                from triage.tooling.spark_cluster import StandaloneCluster

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
            if bucket is not None:
                bucket.stop()
        accountings = [results.pop("accounting") for results in table.values()]
        if any(accounting != accountings[0] for accounting in accountings):
            raise SystemExit("the engines' accountings differ: " + json.dumps(accountings)[:2000])
        report(args.visits, accountings[0]["rows_in"], table)


if __name__ == "__main__":
    main()
