"""`triage contract draft`: roles guessed from an extract's columns, and a draft of the simulator's own extract that
validates that extract."""

import pandas as pd
import pytest
import yaml

from triage.contract import SIMULATED_CONTRACT, load_contract, parse_spec
from triage.contract.draft import draft_contract
from triage.data.extracts import list_extracts
from triage.data.ingest import ingest
from triage.data.validation import validate
from triage_shared.pseudonym import KEY_VARIABLE


@pytest.fixture()
def simulator_extracts(raw_dir, messy_cohort):
    half = len(messy_cohort) // 2
    messy_cohort.iloc[:half].to_csv(raw_dir / "extract_a.csv", index=False)
    messy_cohort.iloc[half:].to_parquet(raw_dir / "extract_b.parquet", index=False)
    return raw_dir


def test_a_draft_of_the_simulators_extract_validates_that_extract(simulator_extracts, tmp_path, monkeypatch,
                                                                   params):
    monkeypatch.setenv(KEY_VARIABLE, "draft-test-key")
    paths = list_extracts(simulator_extracts)
    text, draft = draft_contract(paths, None, load_contract(SIMULATED_CONTRACT))
    (tmp_path / "draft.yaml").write_text(text, encoding="utf-8")
    contract = load_contract(tmp_path / "draft.yaml")
    spec = contract.spec
    assert (spec.identifiers.patient, spec.identifiers.visit) == ("patient_id", "visit_id")
    assert set(spec.personal_data) == {"full_name", "national_id", "birth_date"}
    assert (spec.context.visit_date.column, spec.context.site) == ("visit_date", "site_id")
    assert spec.outcome.column == "diagnosis_code" and contract.classes == ("none", "mild", "acute", "chronic",
                                                                             "orphan")
    assert contract.features["sex"].type == "category" and contract.features["sx_fever"].type == "binary"
    assert contract.features["age_years"].type == "int" and contract.features["temperature_c"].type == "float"
    assert "XX9.9" in spec.outcome.unmapped  # the injected unknown codes are left for the user to map
    result = ingest(paths, contract, progress=lambda message: None)
    _, _, accounting = validate(result.table, result.errors, result.stats, contract,
                                params["validate"]["max_bad_fraction"])
    assert accounting["rows_clean"] > 0.95 * accounting["rows_in"]
    assert accounting["columns_not_in_contract"] == {}


def test_unsure_guesses_are_marked_and_the_outcome_can_be_named(tmp_path):
    extract = pd.DataFrame({
        "": range(1, 41), "edad": [30 + i % 50 for i in range(40)], "sexo": ["M", "F"] * 20,
        "glucosa": [f"{90 + i * 0.5:.1f}" for i in range(40)], "fumador": ["sí", "no"] * 20,
        "grupo": ["A", "B", "C", "D"] * 10, "nota": [f"texto libre {i}" for i in range(40)],
        "resultado": ["0"] * 38 + ["1", "1"]})
    path = tmp_path / "hospital.csv"
    extract.to_csv(path, index=False)
    text, draft = draft_contract([path], "resultado", None)
    data = yaml.safe_load(text)
    assert data["features"]["fumador"]["type"] == "binary"
    assert (data["features"]["fumador"]["true_values"], data["features"]["fumador"]["false_values"]) == (["sí"],
                                                                                                         ["no"])
    assert data["features"]["glucosa"]["type"] == "float" and data["features"]["glucosa"]["min"] == 90
    assert data["features"]["sexo"]["type"] == "category"
    assert "review" in data["features"]["grupo"]  # a category guessed from values: marked
    assert "column_1" in data["ignored"] and "nota" in data["ignored"]
    assert any("column_1" in note for note in data["review"]) and any("nota" in note for note in data["review"])
    assert data["outcome"]["column"] == "resultado" and data["outcome"]["unmapped"] == ["0", "1"]
    # once the user maps the codes, the file is a valid contract
    data["outcome"].update(classes={"none": ["0"], "chronic": ["1"]}, unmapped=[])
    contract = parse_spec(yaml.safe_dump(data, allow_unicode=True), "edited.yaml")
    assert contract.features["fumador"].true_values == ("sí",)


def test_an_extract_without_a_recognisable_outcome_asks_for_one(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="--outcome"):
        draft_contract([path], None, None)
    with pytest.raises(ValueError, match="'z' is not a column"):
        draft_contract([path], "z", None)
