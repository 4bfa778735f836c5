"""The same bits on every x86-64 CPU: `dvc repro` of a small cohort under two CPU setups gives identical outputs.

A fresh clone's `make run` on another CPU must leave dvc.lock, the metrics and the plots exactly as committed. Two
things change with the CPU without any code change: numpy's transcendental functions (exp, log, power, log1p...)
take another SIMD code path per instruction set (AVX-512, AVX2, the baseline), and OpenBLAS picks another kernel
per core type (SkylakeX, Haswell...) and splits work over its threads. The second run here emulates another machine
on this one: numpy's AVX-512 (or, without it, AVX2) dispatch switched off, another OpenBLAS kernel and one BLAS
thread instead of two. Every out of every stage in dvc.yaml (metrics and plots included) must keep its hash.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import copy_repository

pytestmark = pytest.mark.slow

SMALL_COHORT = {("simulate", "n_visits"): 3000, ("train", "iterations"): 30, ("evaluate", "bootstrap"): 20,
                ("export", "parity_rows"): 200, ("train", "baselines"): {"logreg_c": 1.0, "forest_trees": 20}}
AVX512_LEVEL = "X86_V4"  # numpy >= 2.4 groups the AVX-512 dispatch targets under x86-64-v4 and later names


def numpy_runtime() -> tuple[list[str], str]:
    """(numpy's dispatch targets this CPU runs, OpenBLAS's core type) as a fresh interpreter sees them (the test
    process may carry its own settings)."""
    code = ("import numpy as np, threadpoolctl\n"
            "m = np._core._multiarray_umath\n"
            "print(' '.join(f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f)))\n"
            "print(next((i.get('architecture') or '' for i in threadpoolctl.threadpool_info()"
            " if i['internal_api'] == 'openblas'), ''))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NPY_", "OPENBLAS_"))}
    lines = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    return lines[0].split(), lines[1]


def other_machine() -> dict[str, str]:
    """Environment of an emulated other CPU: numpy's widest SIMD targets off (AVX-512 -> AVX2, or AVX2 -> the
    baseline), OpenBLAS on another kernel that this CPU can run, one BLAS thread."""
    targets, core = numpy_runtime()
    disabled = targets[targets.index(AVX512_LEVEL):] if AVX512_LEVEL in targets else targets
    kernel = "Sandybridge" if core.lower() in ("haswell", "zen", "sandybridge") else "Haswell"
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(disabled), "OPENBLAS_CORETYPE": kernel,
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def this_machine() -> dict[str, str]:
    """This CPU as it is: every numpy target, OpenBLAS's own choice of kernel, two BLAS threads."""
    return {"NPY_DISABLE_CPU_FEATURES": "", "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}


def output_hashes(repo: Path) -> dict[str, str]:
    """{stage:path: md5} of every out, metric and plot of every stage, as dvc.lock records them."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {f"{stage}:{out['path']}": out["md5"] for stage, entry in lock["stages"].items()
            for out in entry.get("outs", [])}


def repro(repo: Path, env: dict[str, str]) -> dict[str, str]:
    """Every stage run again from scratch under `env` alone: numpy, OpenBLAS and OpenMP settings of the calling
    environment (a machine-wide OPENBLAS_CORETYPE, say) are dropped so that they cannot hide a difference."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("NPY_", "OPENBLAS_", "OMP_"))}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    own_code = {"PYTHONPATH": str(repo / "src"), "TRIAGE_PYTHON": sys.executable}  # the copy's code, this venv
    result = subprocess.run(["dvc", "repro", "--force"], cwd=repo, env={**inherited, "PATH": path, **own_code, **env},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"dvc repro failed under {env}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return output_hashes(repo)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return copy_repository(tmp_path_factory.mktemp("cpu"), SMALL_COHORT)


def test_every_output_is_the_same_under_other_simd_dispatch_and_blas_kernels(workspace):
    here = repro(workspace, this_machine())
    there = repro(workspace, other_machine())
    stages = set(yaml.safe_load((workspace / "dvc.yaml").read_text())["stages"])
    assert stages <= {key.split(":")[0] for key in here}, "every stage's outs are compared"
    differing = sorted(key for key in here if here[key] != there.get(key))
    assert not differing, f"outputs that depend on the CPU ({other_machine()}): {differing}"
