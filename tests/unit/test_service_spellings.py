"""The service accepts the spellings the contract accepts (issue 18): a manifest written from a real contract
carries its category spellings, binary true/false spellings and missing codes, and the service reads them through
the normaliser ingest uses (`triage_shared.spellings`). An unknown spelling is still refused, naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient
from triage_service.app import create_app
from triage_service.settings import Settings

from triage.contract import Contract, parse_spec
from triage.data.extracts import RECORD_ID
from triage.data.ingest import Normaliser

from .conftest import manifest_for, train_small_model

KEY = "unit-test-key-0123456789"
# the small model's four inputs, as a hospital's contract would describe them
CONTRACT = """
contract: {name: spelled, version: 1.0.0}
features:
  age_years: {type: int, label_es: Edad, min: 0, max: 120, nullable: false}
  sex:
    type: category
    label_es: Sexo
    nullable: false
    categories:
      F: {label_es: Mujer, spellings: [Female]}
      M: {label_es: Hombre, spellings: [Male]}
      U: {label_es: No consta, spellings: [Unknown], missing: true}
  temperature_c: {type: float, label_es: Temperatura, min: 30, max: 45, missing_codes: ["0"]}
  sx_seizures: {type: binary, label_es: Convulsiones, true_values: ["TRUE", "1"], false_values: ["FALSE", "0"]}
outcome: {column: dx, classes: {none: ["0"], acute: ["1"], orphan: ["2"]}}
"""
CANONICAL = {"age_years": 7, "sex": "M", "temperature_c": 36.9, "sx_seizures": 1}


@pytest.fixture(scope="module")
def contract():
    return Contract(spec=parse_spec(CONTRACT, "spelled.yaml"), path=Path("spelled.yaml"), sha256="0" * 64)


@pytest.fixture(scope="module")
def served(contract, tmp_path_factory):
    directory = tmp_path_factory.mktemp("spelled-model")
    model = train_small_model()
    (directory / "model.onnx").write_bytes(model)
    manifest = {**manifest_for(model), "features": contract.feature_specs()}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    log_dir = tmp_path_factory.mktemp("log")
    settings = Settings.from_env({"TRIAGE_API_KEYS": KEY, "TRIAGE_MODEL_DIR": str(directory),
                                  "TRIAGE_LOG_DIR": str(log_dir), "TRIAGE_LOG_PUSH_INTERVAL_S": "0"})
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as client:
        yield client, settings.log_file


def probabilities(client, patient: dict) -> dict:
    response = client.post("/v1/predict", json=patient)
    assert response.status_code == 200, response.text
    return response.json()["probabilities"]


def test_the_extracts_spellings_score_as_the_canonical_codes(served):
    client, _ = served
    expected = probabilities(client, CANONICAL)
    for spelled in ({"sex": "Male", "sx_seizures": True}, {"sex": " male ", "sx_seizures": "TRUE"},
                    {"sex": "MALE", "sx_seizures": "true"}):
        assert probabilities(client, {**CANONICAL, **spelled}) == expected, spelled
    no_seizures = probabilities(client, {**CANONICAL, "sx_seizures": 0})
    assert probabilities(client, {**CANONICAL, "sex": "m", "sx_seizures": False}) == no_seizures


def test_a_missing_code_is_missing_not_a_value(served):
    client, _ = served
    unmeasured = probabilities(client, {**CANONICAL, "temperature_c": None})
    assert probabilities(client, {**CANONICAL, "temperature_c": 0}) == unmeasured
    assert probabilities(client, {**CANONICAL, "temperature_c": "0"}) == unmeasured


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("sex", "Hombre?", "one of F, M, U or a spelling the contract lists"),
    ("sx_seizures", "yes", "0 or 1"),
    ("sx_seizures", 2, "0 or 1"),
    ("temperature_c", 0.5, "between 30 and 45"),
])
def test_an_unknown_spelling_is_refused_naming_the_field(served, field, value, rule):
    client, _ = served
    response = client.post("/v1/predict", json={**CANONICAL, field: value})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors[0]["field"] == field and rule in errors[0]["rule"] and errors[0]["value"] == value


def test_the_schema_lists_the_spellings_and_the_log_keeps_the_codes(served):
    client, log_file = served
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Patient"]["properties"]
    assert schema["sex"]["enum"] == ["F", "M", "U", "Female", "Male", "Unknown"]
    assert {"type": "boolean", "enum": [True, False]} in schema["sx_seizures"]["anyOf"]
    probabilities(client, {**CANONICAL, "sex": "Male", "sx_seizures": True, "temperature_c": 0})
    last = json.loads(log_file.read_text(encoding="utf-8").splitlines()[-1])
    assert {k: last["input"][k] for k in ("sex", "sx_seizures", "temperature_c")} == {
        "sex": "M", "sx_seizures": 1, "temperature_c": None}


def test_ingest_and_the_service_share_one_normaliser(contract):
    """The spellings the service accepts are the ones ingest reads, from the same spec."""
    frame = pd.DataFrame({RECORD_ID: ["a", "b", "c"], "sex": ["Male", " female", "Unknown"],
                          "sx_seizures": ["TRUE", "false", "1.0"], "temperature_c": ["0", "0,0", "37,5"]})
    norm = Normaliser(frame, contract)
    assert norm.category("sex", contract.features["sex"]).tolist() == ["M", "F", "U"]
    assert norm.binary("sx_seizures", contract.features["sx_seizures"]).tolist() == [1.0, 0.0, 1.0]
    temperature = norm.numeric("temperature_c", contract.features["temperature_c"])
    assert temperature.isna().tolist() == [True, True, False] and not norm.errors
