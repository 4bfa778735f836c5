"""`triage report --base REF` in a temporary git repository whose two commits differ in a parameter."""

from __future__ import annotations

import shutil

import pytest
import yaml

from ..conftest import commit_all, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_commits(pipeline_workspace, tmp_path_factory):
    repo = tmp_path_factory.mktemp("report") / "repo"
    shutil.copytree(pipeline_workspace, repo, symlinks=True)
    commit_all(repo, "base: the small pipeline's outputs")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["review_threshold"] = 0.6
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], repo)
    commit_all(repo, "PR: a lower specialist-review threshold")
    return repo


def test_report_has_the_diffs_the_images_and_the_gate_line(two_commits):
    out = two_commits / "reports/cml"
    result = run(["triage", "report", "--base", "HEAD~1", "--out", str(out)], two_commits)
    markdown = (out / "report.md").read_text()
    assert "evaluate.review_threshold" in markdown and "0.7" in markdown and "0.6" in markdown  # dvc params diff
    assert "specialist_review_share" in markdown  # dvc metrics diff: the share moved with the threshold
    assert "✅ **Puerta de calidad: PASA**" in markdown and "PASS  model.roc_auc_ovr_macro" in markdown
    assert "**orphan (huérfana)**" in markdown  # the orphan recall line, highlighted
    assert "filas en cuarentena" not in markdown and "en cuarentena" in markdown  # validation accounting
    assert "variables con PSI" in markdown  # data drift against the base
    for image in ("base_confusion.png", "confusion.png", "base_pr_curves.png", "pr_curves.png"):
        assert f"(./{image})" in markdown and (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert markdown.rstrip().endswith("CI/CD terminado con éxito.")
    assert "quality gate passed" in result.stdout


def test_a_failing_gate_fails_the_report(two_commits, tmp_path):
    params_file = two_commits / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["gate"]["min_macro_f1"] = 0.99
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        result = run(["triage", "report", "--base", "HEAD~1", "--out", str(tmp_path)], two_commits, check=False)
    finally:
        params_file.write_text(original)
    markdown = (tmp_path / "report.md").read_text()
    assert result.returncode == 1
    assert "❌ **Puerta de calidad: NO PASA**" in markdown and "FAIL  model.macro_f1" in markdown
    assert "CI/CD terminado: la puerta de calidad NO se supera." in markdown
