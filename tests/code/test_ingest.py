"""Ingest on hostile extracts: clear errors for table-level faults, exact accounting for row-level ones."""

import json

import pandas as pd
import pytest

from triage import schema
from triage.cohort.mess import as_text
from triage.stages.ingest import (
    DEVELOPMENT_KEY,
    KEY_VARIABLE,
    ContractError,
    derive_labels,
    ingest,
    pseudonymise,
    read_diagnosis_map,
)
from triage.stages.simulate import SIMULATED_MARKER
from triage.stages.validate import ValidationFailed, validate


@pytest.fixture()
def keyed(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "test-secret-key")


def write_csv(frame: pd.DataFrame, directory, name="extract.csv"):
    frame.to_csv(directory / name, index=False)


def run(raw_dir, max_bad_fraction=0.5):
    clean, errors, stats = ingest(raw_dir, read_diagnosis_map())
    return validate(clean, errors, stats, max_bad_fraction)


def test_clean_extract_passes_untouched(raw_dir, clean_cohort, keyed):
    write_csv(as_text(clean_cohort.head(300)), raw_dir)
    clean, quarantine, accounting = run(raw_dir)
    assert (accounting["rows_in"], accounting["rows_clean"], len(quarantine)) == (300, 300, 0)
    assert set(clean.columns) == set(schema.CLEAN_COLUMNS)


def test_messy_extracts_are_accounted_exactly(raw_dir, messy_cohort, keyed):
    half = len(messy_cohort) // 2
    write_csv(messy_cohort.iloc[:half], raw_dir, "a.csv")
    messy_cohort.iloc[half:].to_parquet(raw_dir / "b.parquet", index=False)
    clean, quarantine, accounting = run(raw_dir)
    assert accounting["rows_in"] == len(messy_cohort)
    assert accounting["rows_clean"] + accounting["rows_quarantined"] + accounting["rows_duplicate"] == len(
        messy_cohort)
    assert accounting["rows_exact_duplicate"] == 60 and accounting["rows_near_duplicate"] == 60
    # every injected fault is found: out of range (0.4 %), bad types (0.3 %), unknown codes (0.1 %)
    assert accounting["rows_quarantined"] >= 0.007 * 6000
    assert clean["sex"].isin(schema.SEX_CODES).all()
    assert clean["temperature_c"].dropna().between(30, 45).all()


def test_quarantine_names_column_rule_and_value(raw_dir, clean_cohort, keyed):
    text = as_text(clean_cohort.head(50))
    text.loc[3, "heart_rate_bpm"] = "alto"
    text.loc[4, "temperature_c"] = "101.3"
    text.loc[5, "diagnosis_code"] = "XX9.9"
    text.loc[6, "sx_fever"] = "2"
    write_csv(text, raw_dir)
    _, quarantine, accounting = run(raw_dir)
    reasons = {r["column"]: r for text in quarantine["reasons"] for r in json.loads(text)}
    assert reasons["heart_rate_bpm"] == {"column": "heart_rate_bpm", "rule": "type: number", "value": "alto"}
    assert reasons["temperature_c"]["rule"] == "in_range(30, 45)" and reasons["temperature_c"]["value"] == "101.3"
    assert "diagnosis_map" in reasons["diagnosis_code"]["rule"]
    assert reasons["sx_fever"]["value"] == "2.0"
    assert accounting["rows_quarantined"] == 4 and accounting["rows_clean"] == 46


def test_missing_column_fails_naming_the_column(raw_dir, clean_cohort, keyed):
    write_csv(as_text(clean_cohort.head(10)).drop(columns=["sx_seizures"]), raw_dir)
    with pytest.raises(ContractError, match=r"sx_seizures.*required by the raw contract"):
        run(raw_dir)


def test_empty_file_and_empty_directory_fail_clearly(raw_dir, keyed):
    with pytest.raises(ContractError, match="no extracts"):
        run(raw_dir)
    (raw_dir / "empty.csv").write_text("")
    with pytest.raises(ContractError, match="empty.csv is empty"):
        run(raw_dir)


def test_header_only_file_fails_the_bad_fraction_rule(raw_dir, clean_cohort, keyed):
    write_csv(as_text(clean_cohort.head(0)), raw_dir)
    with pytest.raises(ValidationFailed, match="0 of 0 rows"):
        run(raw_dir)


def test_all_rows_bad_fails_naming_the_most_common_rule(raw_dir, clean_cohort, keyed):
    text = as_text(clean_cohort.head(40))
    text["age_years"] = "150"
    write_csv(text, raw_dir)
    with pytest.raises(ValidationFailed, match=r"40 of 40 rows.*age_years: in_range\(0, 120\) \(40 rows\)"):
        run(raw_dir, max_bad_fraction=0.05)


def test_duplicates_only_extract(raw_dir, clean_cohort, keyed):
    text = as_text(clean_cohort.head(1))
    write_csv(pd.concat([text] * 5, ignore_index=True), raw_dir)
    clean, _, accounting = run(raw_dir)
    assert (accounting["rows_in"], len(clean), accounting["rows_exact_duplicate"]) == (5, 1, 4)


def test_near_duplicates_with_other_spellings_are_dropped(raw_dir, clean_cohort, keyed):
    text = as_text(clean_cohort.head(20))
    resent = text.head(5).copy()
    resent["sex"] = resent["sex"].map({"F": " female", "M": "Hombre", "U": ""})
    resent["temperature_c"] = resent["temperature_c"].str.replace(".", ",") + "0"
    resent["full_name"] = resent["full_name"].str.upper()
    write_csv(pd.concat([text, resent], ignore_index=True), raw_dir)
    clean, _, accounting = run(raw_dir)
    assert (len(clean), accounting["rows_near_duplicate"]) == (20, 5)


def test_unicode_values_survive(raw_dir, clean_cohort, keyed):
    text = as_text(clean_cohort.head(10))
    text["site_id"] = "Clínica Peña Ñ"
    write_csv(text, raw_dir)
    clean, _, _ = run(raw_dir)
    assert (clean["site_id"] == "CLÍNICA PEÑA Ñ").all()


def test_no_personal_data_or_raw_identifier_survives(raw_dir, clean_cohort, keyed):
    text = as_text(clean_cohort.head(200))
    write_csv(text, raw_dir)
    clean, quarantine, _ = run(raw_dir)
    assert not set(schema.PERSONAL_DATA_COLUMNS) & set(clean.columns)
    assert not set(text["patient_id"]) & set(clean["patient_id"])
    flat = clean.astype(str).to_numpy().ravel().tolist()
    for secret in [*text["full_name"].head(20), *text["national_id"].head(20), *text["patient_id"].head(20)]:
        assert secret not in flat


def test_pseudonyms_are_keyed_and_stable():
    ids = pd.Series(["MRN1", "MRN2", "MRN1"])
    first, other = pseudonymise(ids, b"key-a"), pseudonymise(ids, b"key-b")
    assert first[0] == first[2] != first[1]
    assert not set(first) & set(other)


def test_real_data_requires_the_key(raw_dir, clean_cohort, monkeypatch):
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    write_csv(as_text(clean_cohort.head(5)), raw_dir)
    with pytest.raises(ContractError, match=KEY_VARIABLE):
        run(raw_dir)
    (raw_dir / SIMULATED_MARKER).write_text("{}")
    clean, _, _ = run(raw_dir)
    expected = pseudonymise(clean_cohort.head(5)["patient_id"], DEVELOPMENT_KEY.encode())
    assert set(clean["patient_id"]) == set(expected)


def test_labels_come_from_the_longest_matching_prefix():
    codes = pd.Series(["J45.901", "J45.0", "E11.65", "E11.9", "ORPHA:558", "Z00.0", "XX1"])
    labels = derive_labels(codes, read_diagnosis_map())
    assert labels.tolist()[:6] == ["acute", "chronic", "acute", "chronic", "orphan", "none"]
    assert pd.isna(labels.iloc[6])
