"""triage.intake without Airflow or servers: the bucket layout, the retraining decision, the settings."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from triage.intake import IntakeError
from triage.intake.landing import ROWS_TRAILER
from triage.intake.layout import extract_object, record_of, rejected_key, run_key, versioned_name
from triage.intake.retrain_decision import DriftVerdict, ModelVersion, decide, new_labelled_rows
from triage.intake.tools import IntakeSettings, Tools, load_settings

from ..conftest import REPO

SETTINGS = IntakeSettings(contract=Path("data/contracts/simulated.yaml"), incoming_dir=Path("data/raw/incoming"),
                          max_bad_fraction=0.05, model_name="triage-model", retrain_min_new_rows=1000,
                          retrain_on_drift=True, drift_env="prod", dvc_remote="s3")
MODEL = ModelVersion("triage-model@v1.2.0", "abc", "2026-12-10T08:00:00+00:00")


def drift(detected: bool, created: str = "2026-12-11T00:00:00+00:00") -> DriftVerdict:
    return DriftVerdict(f"monitoring/prod/{created}/drift_report.json", detected, created, ("orphan share x3",))


def test_extract_keys():
    extract = extract_object("raw/site-a/2026/12/x.csv", '"0123abcd"', 10)
    assert extract is not None and (extract.site, extract.name, extract.etag) == ("site-a", "2026/12/x.csv", "0123abcd")
    assert extract.uid == "raw/site-a/2026/12/x.csv@0123abcd"
    assert record_of(extract.record_key("accounting.json")) == ("site-a", "2026/12/x.csv", "0123abcd",
                                                                 "accounting.json")
    assert rejected_key(extract) == "raw/rejected/site-a/2026/12/x.csv"
    assert versioned_name("2026/12/x.csv", "0123abcdef0123456789") == "2026/12/x.0123abcdef01.csv"
    for not_an_extract in ("raw/site-a/notes.txt", "raw/site-a/_SIMULATED.json", "raw/site-a/.x.csv",
                           "raw/rejected/site-a/x.csv", "raw/x.csv", "raw/site-a/", "other/site/x.csv"):
        assert extract_object(not_an_extract, "ab", 1) is None, not_an_extract
    with pytest.raises(IntakeError, match=r"raw/bad site/x.csv: site folder 'bad site'"):
        extract_object("raw/bad site/x.csv", "ab", 1)
    with pytest.raises(IntakeError, match=r"path part '\.\.'"):
        extract_object("raw/site/../x.csv", "ab", 1)
    assert run_key("manual__2026-12-01T00:00:00+00:00") == \
        "monitoring/intake/runs/manual__2026-12-01T00_00_00+00_00.json"


def test_decision_on_rows_both_sides():
    below = decide(999, SETTINGS, MODEL, None, "triage")
    assert not below.triggered
    assert below.reasons == ("999 new labelled rows since triage-model@v1.2.0 < intake.retrain_min_new_rows=1000",
                             "no drift report under s3://triage/monitoring/prod/")
    above = decide(1000, SETTINGS, MODEL, drift(False), "triage")
    assert above.triggered and ">= intake.retrain_min_new_rows=1000" in above.reasons[0]
    assert "no drift" in above.reasons[1]
    first = decide(5, SETTINGS, None, None, "triage")
    assert not first.triggered and "(no model registered yet)" in first.reasons[0]


def test_decision_on_drift():
    triggered = decide(10, SETTINGS, MODEL, drift(True), "triage")
    assert triggered.triggered and "found drift (2026-12-11T00:00:00+00:00: orphan share x3)" in triggered.reasons[1]
    stale = decide(10, SETTINGS, MODEL, drift(True, "2026-12-09T00:00:00+00:00"), "triage")
    assert not stale.triggered and "before triage-model@v1.2.0 was registered" in stale.reasons[1]
    nothing_new = decide(0, SETTINGS, MODEL, drift(True), "triage")
    assert not nothing_new.triggered and "would refit the same data" in nothing_new.reasons[1]
    off = decide(10, replace(SETTINGS, retrain_on_drift=False), MODEL, drift(True), "triage")
    assert not off.triggered and "retrain_on_drift: false" in off.reasons[1]


def test_new_rows_are_counted_from_the_last_model(tmp_path):
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", f"Intake: one\n\n{ROWS_TRAILER}: 300")
    git("tag", "-a", "triage-model@v1.0.0", "-m", "model")
    model = ModelVersion("triage-model@v1.0.0", git("rev-list", "-n", "1", "triage-model@v1.0.0"), "")
    git("commit", "-q", "--allow-empty", "-m",
        f"Intake: two\n\nIntake-Extract: s3://b/raw/a/x.csv@e\n{ROWS_TRAILER}: 40")
    git("commit", "-q", "--allow-empty", "-m", "an unrelated commit")
    git("commit", "-q", "--allow-empty", "-m", f"Intake: three\n\n{ROWS_TRAILER}: 2")
    tools = Tools(tmp_path)
    assert new_labelled_rows(tools, model) == 42
    assert new_labelled_rows(tools, None) == 342


def test_settings_from_the_clone(tmp_path):
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    settings = load_settings(tmp_path)
    assert settings.model_name == "triage-model" and settings.dvc_remote == params["intake"]["dvc_remote"]
    assert settings.max_bad_fraction == params["validate"]["max_bad_fraction"]
    del params["intake"]["drift_env"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(IntakeError, match="'drift_env' is missing"):
        load_settings(tmp_path)
