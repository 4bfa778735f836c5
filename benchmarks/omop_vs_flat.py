"""The default cohort through the flat path and through the CDM path, side by side in one run: visits, time and the
test metrics with their intervals.

    python benchmarks/omop_vs_flat.py                 # params' simulate.n_visits (100,000)
    python benchmarks/omop_vs_flat.py --visits 20000

Two scratch copies of the repository. The flat one runs `dvc repro` as `make run` does: the simulator's messy
extracts, ingest, validate (quarantine, duplicates), split, ... The CDM one writes the same cohort as an OMOP CDM
(`triage omop simulated`: the simulator's clean visits, before the mess), points params at it and at
data/contracts/examples/simulated_omop.yaml, holds out the same orphan diseases (the flat run's holdout file), and
runs `dvc repro`. The flat path loses the rows the mess breaks (quarantined, duplicated), the CDM path none, and the
CDM path has no Bayes limit (the simulator is not the source there); the metrics should agree within their intervals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import ENV, copy_repository  # noqa: E402

CDM_CONTRACT = "data/contracts/examples/simulated_omop.yaml"
ROWS = (("visits read", lambda m, v: v["rows_in"]), ("clean visits", lambda m, v: v["rows_clean"]),
        ("test visits", lambda m, v: m["test_rows"]),
        ("macro-F1 (served)", lambda m, v: interval(m["model"], "macro_f1_decision")),
        ("ROC-AUC (OvR macro)", lambda m, v: interval(m["model"], "roc_auc_ovr_macro")),
        ("orphan recall", lambda m, v: interval(m["model"], "orphan_recall")),
        ("orphan precision", lambda m, v: interval(m["model"], "orphan_precision")),
        ("orphan PR-AUC", lambda m, v: interval(m["model"], "orphan_pr_auc")),
        ("orphan test cases", lambda m, v: m["test_orphan_cases"]))


def interval(model: dict, name: str) -> str:
    low, high = model.get(f"{name}_ci", [None, None])
    return f"{model[name]:.3f} [{low:.3f}, {high:.3f}]" if low is not None else f"{model[name]:.3f}"


def run(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def results(workspace: Path) -> tuple[dict, dict]:
    return (json.loads((workspace / "reports/metrics.json").read_text()),
            json.loads((workspace / "reports/validation.json").read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=None)
    args = parser.parse_args()
    change = {("simulate", "n_visits"): args.visits} if args.visits else {}
    with tempfile.TemporaryDirectory(prefix="triage-omop-vs-flat-") as directory:
        flat, cdm = Path(directory) / "flat", Path(directory) / "cdm"
        flat.mkdir()
        cdm.mkdir()
        copy_repository(flat, change)
        copy_repository(cdm, {**change, ("data", "contract"): CDM_CONTRACT, ("data", "raw_dir"): "data/raw/cdm",
                              ("split", "holdout_file"): "data/raw/holdout_diagnoses.txt"})
        seconds = {"flat": run(["dvc", "repro"], flat)}
        print(f"flat path: dvc repro {seconds['flat']:.1f} s", flush=True)
        (cdm / "data/raw/holdout_diagnoses.txt").write_bytes(
            (flat / "data/simulation/holdout_diagnoses.txt").read_bytes())
        written = run([sys.executable, "-m", "triage.cli", "omop", "simulated", "data/raw/cdm"], cdm)
        seconds["cdm"] = run(["dvc", "repro"], cdm)
        print(f"CDM path: triage omop simulated {written:.1f} s, dvc repro {seconds['cdm']:.1f} s", flush=True)
        table = {"flat": results(flat), "cdm": results(cdm)}
        print(f"\n{'':<22}{'flat extracts':>28}{'OMOP CDM':>28}")
        for label, value in ROWS:
            print(f"{label:<22}" + "".join(f"{value(*table[path])!s:>28}" for path in ("flat", "cdm")))
        print(f"{'dvc repro (s)':<22}{seconds['flat']:>28.1f}{seconds['cdm']:>28.1f}")


if __name__ == "__main__":
    main()
