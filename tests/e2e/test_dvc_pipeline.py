"""End to end: `dvc repro` on a small cohort in a temporary copy of the repository, then `dvc exp run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage.features import feature_matrix
from triage.onnx_export import INPUT_NAME, onnx_session
from triage.tables import file_digest

from ..conftest import commit_all, run

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


def test_gate_runs_on_the_produced_metrics(workspace):
    result = subprocess.run([sys.executable, "-m", "triage.cli", "gate"], cwd=workspace, capture_output=True,
                            text=True)
    assert "quality gate:" in result.stdout and result.returncode in (0, 1)


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
