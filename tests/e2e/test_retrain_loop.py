"""Retraining and the whole monitoring loop, on real tools: DVC, GTO, SeaweedFS, the service."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from triage.errors import ExitCode

from ..conftest import REPO, commit_all, run

pytestmark = pytest.mark.slow
IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
KEY = {"TRIAGE_PSEUDONYM_KEY": "retrain-test-key"}  # the new extract is real data for ingest: it needs the key


def test_retraining_refuses_to_promote_a_model_that_fails_the_gate(pipeline_workspace, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_workspace, repo, symlinks=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["gate"]["min_macro_f1"] = 0.99  # unreachable
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit_all(repo, "an unreachable gate")
    head = run(["git", "rev-parse", "HEAD"], repo).stdout
    extract = tmp_path / "extract_late.csv"
    run(["triage", "simulate-shift", "--visits", "800", "--seed", "5", "--extract", str(extract), "--requests",
         str(tmp_path / "requests.json")], repo)
    unkeyed = run(["triage", "retrain", "--extract", str(extract)], repo, env={**IDENTITY, "TRIAGE_PSEUDONYM_KEY": ""},
                  check=False)
    assert unkeyed.returncode == ExitCode.BAD_INPUT and "TRIAGE_PSEUDONYM_KEY" in unkeyed.stderr
    assert not (repo / "data/raw/incoming/extract_late.csv").exists()  # refused before anything was added
    result = run(["triage", "retrain", "--extract", str(extract)], repo, env={**IDENTITY, **KEY}, check=False)
    assert result.returncode == ExitCode.FAILED_CHECK, result.stdout[-2000:] + result.stderr[-2000:]
    assert "FAIL  model.macro_f1" in result.stdout and "no version registered" in result.stdout
    assert run(["git", "tag", "--list", "triage-model@*"], repo).stdout.strip() == ""
    assert run(["git", "rev-parse", "HEAD"], repo).stdout == head  # nothing committed
    assert (repo / "data/raw/incoming/extract_late.csv").exists()  # the run is kept for inspection


def test_retraining_refuses_a_dirty_tree_and_an_edited_extract(pipeline_workspace, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_workspace, repo, symlinks=True)
    commit_all(repo, "the small pipeline's outputs")
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "\n# local edit\n")
    extract = tmp_path / "x.csv"
    extract.write_text("visit_id,diagnosis_code\nV1,J06\n")
    dirty = run(["triage", "retrain", "--extract", str(extract)], repo, env=KEY, check=False)
    assert dirty.returncode == ExitCode.BAD_INPUT and "uncommitted changes" in dirty.stderr
    run(["git", "checkout", "params.yaml"], repo)
    (repo / "data/raw/incoming/x.csv").write_text("visit_id,diagnosis_code\nV1,J10\n")
    edited = run(["triage", "retrain", "--extract", str(extract)], repo, env=KEY, check=False)
    assert edited.returncode == ExitCode.BAD_INPUT and "never edited in place" in edited.stderr


def test_loop_demo_runs_end_to_end(tmp_path: Path):
    """`make loop-demo` in a reduced size: drift found, retrained, gated, registered, published, reloaded."""
    result = run(["triage", "loop-demo", "--visits", "8000", "--shift-visits", "1500", "--fast", "--keep",
                  str(tmp_path / "demo")], REPO, env=IDENTITY, check=False)
    output = result.stdout
    assert result.returncode == 0, output[-4000:] + result.stderr[-4000:]
    assert "DRIFT DETECTED" in output and "drift detected (exit 3)" in output
    assert "triage-model@v1.1.0 registered and promoted to dev" in output
    assert "the service now serves v1.1.0" in output
    assert output.rstrip().splitlines()[-1].startswith("total")
