"""`triage report --base REF` in a temporary git repository whose commits differ in a parameter: one change that
improves a headline metric, one that costs orphan precision (a higher recall target: more false orphan alerts)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from ..conftest import commit_all, params_changed, run

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


def section_order(markdown: str, *markers: str) -> list[int]:
    return [markdown.index(marker) for marker in markers]


def test_report_opens_with_what_changed_then_the_gate_then_the_details(two_commits):
    out = two_commits / "reports/cml"
    result = run(["triage", "report", "--base", "HEAD~1", "--out", str(out)], two_commits)
    markdown = (out / "report.md").read_text()
    order = section_order(markdown, "### What changes", "| referred to a specialist |", "evaluate.review_threshold",
                          "### Quality gate", "**orphan (rare disease)**", "<summary><code>dvc metrics diff",
                          "quarantined", "features with PSI", "### Figures")
    assert order == sorted(order)  # headline, changed params right under it, gate, then the details
    share = next(line for line in markdown.splitlines() if line.startswith("| referred to a specialist |"))
    base_share, pr_share = (float(cell) for cell in share.split("|")[2:4])
    assert pr_share < base_share and "⚠" not in share  # a lower review threshold sends fewer visits to review
    assert "0.7" in markdown and "0.6" in markdown and "specialist_review_share" in markdown  # dvc diffs
    assert "✅ **Quality gate: PASSES**" in markdown and "PASS  model.roc_auc_ovr_macro" in markdown
    assert "PASS  model.specialist_review_share" in markdown and "PASS  model.orphan_precision" in markdown
    assert "| quarantined |" in markdown  # validation accounting, its own label
    assert "| base (`HEAD~1`) | PR (this change) |" in markdown  # side by side, headers say which is which
    for name, title in (("confusion.png", "Confusion matrix"), ("pr_curves.png", "Precision-recall curves")):
        assert f"| ![{title}, base](./base_{name}) | ![{title}, PR](./{name}) |" in markdown
        for image in (f"base_{name}", name):
            assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert markdown.rstrip().endswith("CI/CD finished: the quality gate passes.")
    assert "quality gate passed" in result.stdout


def test_a_failing_gate_fails_the_report(two_commits, tmp_path):
    with params_changed(two_commits, "gate", "min_macro_f1", 0.99):
        result = run(["triage", "report", "--base", "HEAD~1", "--out", str(tmp_path)], two_commits, check=False)
    markdown = (tmp_path / "report.md").read_text()
    assert result.returncode == 1
    assert "❌ **Quality gate: FAILS**" in markdown and "FAIL  model.macro_f1" in markdown
    assert "CI/CD finished: the quality gate FAILS." in markdown


def test_a_regression_against_the_base_fails_the_gate_and_is_marked(two_commits, tmp_path):
    """Last in the module: it commits on top. A higher review threshold sends more visits to specialist review: the
    share rises by more than gate.max_regression allows and beyond the base's interval, absolute minimums met."""
    params = yaml.safe_load((two_commits / "params.yaml").read_text())
    params["evaluate"]["review_threshold"] = 0.9
    (two_commits / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], two_commits)
    commit_all(two_commits, "PR: review threshold 0.9")
    result = run(["triage", "report", "--base", "HEAD~1", "--out", str(tmp_path)], two_commits, check=False)
    markdown = (tmp_path / "report.md").read_text()
    share = next(line for line in markdown.splitlines() if line.startswith("| referred to a specialist |"))
    base_share, pr_share = (float(cell) for cell in share.split("|")[2:4])
    assert pr_share - base_share > params["gate"]["max_regression"]["specialist_review_share"] and "⚠" in share
    assert "**Attention: worse beyond the base's interval: referred to a specialist.**" in markdown
    assert "FAIL  model.specialist_review_share" in markdown and "PASS  model.macro_f1" in markdown
    assert "PASS  model.orphan_precision" in markdown  # the orphan decision does not depend on the review threshold
    assert "❌ **Quality gate: FAILS**" in markdown and result.returncode == 1
    assert markdown.rstrip().endswith("CI/CD finished: the quality gate FAILS.")
