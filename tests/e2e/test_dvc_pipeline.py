"""End to end: `dvc repro` on a small cohort in a temporary copy of the repository, then `dvc exp run`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from triage.model.features import feature_matrix
from triage.model.onnx import INPUT_NAME, onnx_session
from triage.tables import file_digest

from ..conftest import REPO, commit_all, params_changed, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(pipeline_workspace) -> Path:
    return pipeline_workspace


def test_repro_produces_a_verified_model_and_reports(workspace, contract):
    manifest = json.loads((workspace / "models/manifest.json").read_text())
    onnx_file = workspace / "models/triage.onnx"
    assert manifest["onnx"]["sha256"] == file_digest(onnx_file)
    assert manifest["training_data"]["md5"] == file_digest(workspace / "data/processed/train.parquet", "md5")
    assert manifest["parity"]["label_disagreements"] == 0
    accounting = json.loads((workspace / "reports/validation.json").read_text())
    assert accounting["rows_in"] == (accounting["rows_clean"] + accounting["rows_quarantined"]
                                     + accounting["rows_duplicate"])
    metrics = json.loads((workspace / "reports/metrics.json").read_text())
    assert {"model", "baselines", "bayes_limit"} <= set(metrics)
    assert metrics["model"]["roc_auc_ovr_macro"] > 0.85
    for figure in ("confusion", "pr_curves", "calibration", "feature_importance", "orphan_pr"):
        assert (workspace / f"reports/figures/{figure}.png").stat().st_size > 1000
    test = pd.read_parquet(workspace / "data/processed/test.parquet")
    _, probabilities = onnx_session(onnx_file.read_bytes()).run(None, {INPUT_NAME: feature_matrix(test, contract)})
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_second_repro_is_a_no_op_and_status_is_clean(workspace):
    result = run(["dvc", "repro"], workspace)
    assert "didn't change" in result.stdout or "up to date" in result.stdout
    assert "Data and pipelines are up to date" in run(["dvc", "status"], workspace).stdout


def test_bytecode_caches_do_not_change_any_stage(workspace):
    """An interpreter that writes bytecode (Python's default) leaves __pycache__ in the stages' code folders: DVC
    ignores them (.dvcignore), so a fresh clone's `make run` leaves dvc.lock as committed."""
    run([sys.executable, "-m", "compileall", "-q", "src", "service"], workspace)
    caches = sorted([*workspace.glob("src/**/__pycache__"), *workspace.glob("service/**/__pycache__")])
    try:
        assert len(caches) >= 10
        assert "Data and pipelines are up to date" in run(["dvc", "status"], workspace).stdout
    finally:
        for cache in caches:
            shutil.rmtree(cache)


def test_gate_passes_and_fails_on_the_produced_metrics_as_the_minimums_say(workspace, tmp_path):
    """The gate's verdict follows the metrics: minimums just under them pass, one just over fails that line."""
    metrics = json.loads((workspace / "reports/metrics.json").read_text())["model"]
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    for verdict, shift in (("passed", -0.001), ("FAILED", 0.001)):
        params["gate"] = {"min_roc_auc": metrics["roc_auc_ovr_macro"] - 0.001,
                          "min_orphan_recall_lower": metrics["orphan_recall_lower"] - 0.001,
                          "min_macro_f1": metrics["macro_f1_decision"] + shift, "min_cases": 20}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        result = subprocess.run([sys.executable, "-m", "triage.cli", "gate", "--params", str(tmp_path / "params.yaml")],
                                cwd=workspace, capture_output=True, text=True)
        assert f"quality gate: {verdict}" in result.stdout
        assert result.returncode == (0 if verdict == "passed" else 1)
    assert "FAIL  model.macro_f1_decision" in result.stdout and "PASS  model.roc_auc_ovr_macro" in result.stdout
    assert "PASS  metrics provenance" in result.stdout


def test_a_failed_repro_is_never_followed_by_a_passing_gate(workspace):
    """`dvc repro` fails in validate (a stricter limit refuses the rows): the metrics left by the last run are not
    the current pipeline's, and the gate says so and fails, where it used to pass them."""
    accounting = workspace / "reports/validation.json"  # in git, not in the DVC cache: checkout cannot restore it
    committed = accounting.read_bytes()
    try:
        with params_changed(workspace, "validate", "max_bad_fraction", 0.0):
            failed = run(["dvc", "repro"], workspace, check=False)
            assert failed.returncode != 0 and "max_bad_fraction" in failed.stdout + failed.stderr
            assert "Traceback" not in failed.stdout + failed.stderr  # an expected refusal: one line, no traceback
            gate = run([sys.executable, "-m", "triage.cli", "gate"], workspace, check=False)
            assert gate.returncode == 1 and "quality gate: FAILED" in gate.stdout
            assert "FAIL  metrics provenance: stage validate" in gate.stdout
    finally:
        accounting.write_bytes(committed)
        run(["dvc", "checkout", "--force"], workspace)
    assert "Data and pipelines are up to date" in run(["dvc", "status"], workspace).stdout


def out_hashes(lock: dict) -> dict[str, str]:
    return {out["path"]: out.get("md5") or out.get("hash") for stage in lock["stages"].values()
            for out in stage.get("outs", [])}


def test_a_second_run_reproduces_every_hash_even_with_the_venv_off_path(workspace, tmp_path):
    """Reproducible to the bit: every stage from simulate on, forced to run again in a copy, gives the committed
    hashes (seeds, thread counts, no timestamps or run ids in any output). The run uses `.venv/bin/dvc` with the
    venv off PATH: the stages still find the project's interpreter (tools/stage)."""
    copy = tmp_path / "again"
    shutil.copytree(workspace, copy, symlinks=True)
    (copy / ".venv").symlink_to(REPO / ".venv")
    before = yaml.safe_load((copy / "dvc.lock").read_text())
    environment = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    environment["PATH"] = "/usr/bin:/bin"
    result = subprocess.run([str(REPO / ".venv/bin/dvc"), "repro", "--force", "--downstream", "simulate"], cwd=copy,
                            env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = yaml.safe_load((copy / "dvc.lock").read_text())
    assert out_hashes(after) == out_hashes(before)
    assert len(out_hashes(before)) >= 20


def test_experiment_with_a_changed_parameter_gives_other_metrics(workspace):
    commit_all(workspace, "pipeline outputs")
    before = (workspace / "reports/metrics.json").read_text()
    run(["dvc", "exp", "run", "-S", "train.depth=3", "-n", "shallow"], workspace)
    try:
        after = (workspace / "reports/metrics.json").read_text()
        assert json.loads(after)["model"] != json.loads(before)["model"]
        shown = json.loads(run(["dvc", "exp", "show", "--json"], workspace).stdout)
        assert "shallow" in json.dumps(shown)
        diff = json.loads(run(["dvc", "metrics", "diff", "--json"], workspace).stdout)
        assert "reports/metrics.json" in diff
        run(["dvc", "plots", "diff", "-o", "plots_html"], workspace)
        assert (workspace / "plots_html/index.html").exists()
    finally:  # the session's workspace goes back to the committed model for the tests that share it
        run(["git", "reset", "-q", "--hard"], workspace)
        run(["dvc", "checkout", "--force"], workspace)
    assert (workspace / "reports/metrics.json").read_text() == before
