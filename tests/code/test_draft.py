"""`triage contract draft`: roles guessed from an extract's columns, and a draft of the simulator's own extract that
validates that extract."""

import pandas as pd
import pytest
import yaml

from triage.contract import SIMULATED_CONTRACT, load_contract, parse_spec
from triage.data.draft import draft_contract
from triage.data.extracts import list_extracts
from triage_shared.pseudonym import KEY_VARIABLE

from ..conftest import ingest_and_validate


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
    _, _, accounting = ingest_and_validate(paths, contract,
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


def write(tmp_path, frame: pd.DataFrame, name: str = "site.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def heart_extract(n: int = 200) -> pd.DataFrame:
    """Shaped like the UCI heart-disease extract: a site column named `dataset`, a cholesterol of 0 at one site."""
    sites = ["Cleveland", "Hungary", "Switzerland", "VA Long Beach"]
    return pd.DataFrame({
        "age": [30 + i % 45 for i in range(n - 1)] + [65526], "dataset": [sites[i % 4] for i in range(n)],
        "chol": [0 if i % 4 == 2 else 180 + i % 90 for i in range(n)], "oldpeak": [f"{i % 30 / 10:.1f}"
                                                                                  for i in range(n)],
        "marker": [1 + i % 10 for i in range(n - 1)] + [99999], "num": [str(i % 2) for i in range(n)]})


def test_the_review_count_counts_every_note_written(tmp_path, capsys):
    from argparse import Namespace

    from triage.commands.contract import draft

    path = write(tmp_path, heart_extract())
    out = tmp_path / "draft.yaml"
    assert draft(Namespace(extract=str(path), outcome="num", out=str(out), force=False, reference_codes=None,
                             no_reference_codes=True)) == 0
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    notes = len(data.get("review", [])) + sum("review" in f for f in data["features"].values())
    assert notes >= 3 and f"{notes} guess(es) to review" in capsys.readouterr().out


def test_implausible_observed_values_are_flagged_not_copied_into_the_range(tmp_path):
    text, _ = draft_contract([write(tmp_path, heart_extract())], "num", None)
    features = yaml.safe_load(text)["features"]
    assert (features["age"]["min"], features["age"]["max"]) == (30, 74)  # 65526 is no age
    assert "65526" in features["age"]["review"] and "1 value(s)" in features["age"]["review"]
    assert features["chol"]["min"] == 180 and "missing_codes: ['0']" in features["chol"]["review"]
    assert features["marker"]["max"] == 10 and "99999" in features["marker"]["review"]  # the robust rule
    assert "review" not in features["oldpeak"]


def test_the_decimal_separator_is_detected_from_the_data(tmp_path):
    dots = heart_extract()
    commas = dots.assign(oldpeak=dots["oldpeak"].str.replace(".", ",", regex=False))
    for frame, expected in ((dots, False), (commas, True)):
        text, _ = draft_contract([write(tmp_path, frame)], "num", None)
        assert yaml.safe_load(text)["decimal_comma"] is expected


def test_a_column_that_looks_like_the_site_is_proposed_as_context(tmp_path):
    by_values = heart_extract().rename(columns={"dataset": "lugar"}).assign(
        lugar=lambda f: "Hospital " + f["lugar"])
    for frame, column in ((heart_extract(), "dataset"), (by_values, "lugar")):
        text, _ = draft_contract([write(tmp_path, frame)], "num", None)
        data = yaml.safe_load(text)
        assert data["context"]["site"] == column and column not in data["features"]
        assert any(column in note and "context.site" in note for note in data["review"])
