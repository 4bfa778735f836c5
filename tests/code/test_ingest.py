"""Ingest and validate on hostile extracts: clear errors for table-level faults, exact accounting and strict reasons
for row-level ones, identifiers hashed wherever an extract sits, nothing lost and nothing silently dropped."""

import csv
import json

import pandas as pd
import pytest

from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, PATIENT_ID, SITE_ID, VISIT_DATE, VISIT_ID
from triage.data.extracts import ExtractError, list_extracts
from triage.data.ingest import derive_labels, pseudonymise
from triage.data.simulated_marker import SIMULATED_MARKER, write_simulated_marker
from triage.data.validation import ValidationFailed, check_bad_fraction
from triage.simulation.mess import as_text
from triage.tables import write_csv as write_safe_csv
from triage_shared.pseudonym import DEVELOPMENT_KEY, KEY_VARIABLE

from ..conftest import ingest_and_validate


@pytest.fixture()
def keyed(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "test-secret-key")


def write_csv(frame: pd.DataFrame, directory, name="extract.csv"):
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def run(raw_dir, contract, max_bad_fraction=0.5, incoming=None):
    paths = list_extracts(raw_dir) + (list_extracts(incoming, required=False) if incoming else [])
    return ingest_and_validate(paths, contract, max_bad_fraction)


def reasons_by_column(quarantine):
    return {r["column"]: r for text in quarantine["reasons"] for r in json.loads(text)}


def test_clean_extract_passes_untouched(raw_dir, clean_cohort, contract, keyed):
    write_csv(as_text(clean_cohort.head(300)), raw_dir)
    clean, quarantine, accounting = run(raw_dir, contract)
    assert (accounting["rows_in"], accounting["rows_clean"], len(quarantine)) == (300, 300, 0)
    assert list(clean.columns) == [PATIENT_ID, VISIT_ID, VISIT_DATE, SITE_ID, *contract.feature_names, OUTCOME_CODE,
                                   LABEL_COLUMN, "record_id", "record_order"]  # where each row came from


def test_messy_extracts_are_accounted_exactly(raw_dir, messy_cohort, contract, keyed):
    half = len(messy_cohort) // 2
    write_csv(messy_cohort.iloc[:half], raw_dir, "a.csv")
    messy_cohort.iloc[half:].to_parquet(raw_dir / "b.parquet", index=False)
    clean, quarantine, accounting = run(raw_dir, contract)
    assert accounting["rows_in"] == len(messy_cohort)
    assert accounting["rows_clean"] + accounting["rows_quarantined"] + accounting["rows_duplicate"] == len(
        messy_cohort)
    assert accounting["rows_exact_duplicate"] == 60 and accounting["rows_near_duplicate"] == 60
    # every injected fault is found: out of range (0.4 %), bad types (0.3 %), unknown codes (0.1 %)
    assert accounting["rows_quarantined"] >= 0.007 * 6000
    assert clean["sex"].isin(["F", "M", "U"]).all()
    assert clean["temperature_c"].dropna().between(30, 45).all()


def test_quarantine_names_column_rule_and_value(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(50))
    text.loc[3, "heart_rate_bpm"] = "alto"
    text.loc[4, "temperature_c"] = "101.3"
    text.loc[5, "diagnosis_code"] = "XX9.9"
    text.loc[6, "sx_fever"] = "2"
    write_csv(text, raw_dir)
    _, quarantine, accounting = run(raw_dir, contract)
    reasons = reasons_by_column(quarantine)
    assert reasons["heart_rate_bpm"] == {"column": "heart_rate_bpm", "rule": "type: number", "value": "alto"}
    assert reasons["temperature_c"]["rule"] == "in_range(30, 45)" and reasons["temperature_c"]["value"] == "101.3"
    assert "outcome.classes" in reasons["diagnosis_code"]["rule"] and reasons["diagnosis_code"]["value"] == "XX9.9"
    assert reasons["sx_fever"] == {"column": "sx_fever", "rule": "binary: one of 1/0", "value": "2"}
    assert accounting["rows_quarantined"] == 4 and accounting["rows_clean"] == 46
    assert sum(accounting["reasons"].values()) == 4  # no follow-on reason (a missing label) counted twice


def test_missing_column_fails_naming_the_column(raw_dir, clean_cohort, contract, keyed):
    write_csv(as_text(clean_cohort.head(10)).drop(columns=["sx_seizures"]), raw_dir)
    with pytest.raises(ExtractError, match=r"lacks column\(s\) sx_seizures named by the contract"):
        run(raw_dir, contract)


def test_personal_data_columns_may_be_absent(raw_dir, clean_cohort, contract, keyed):
    write_csv(as_text(clean_cohort.head(10)).drop(columns=["full_name", "birth_date"]), raw_dir)
    clean, _, _ = run(raw_dir, contract)
    assert len(clean) == 10


def test_columns_the_contract_does_not_name_are_counted_and_listed(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(30)).assign(glucose_mg_dl="98", nota_libre="texto")
    write_csv(text, raw_dir)
    clean, _, accounting = run(raw_dir, contract)
    listed = accounting["columns_not_in_contract"]
    assert list(listed.values()) == [["glucose_mg_dl", "nota_libre"]]
    assert not {"glucose_mg_dl", "nota_libre"} & set(clean.columns)


def test_empty_file_and_empty_directory_fail_clearly(raw_dir, contract, keyed):
    with pytest.raises(ExtractError, match="no extracts"):
        run(raw_dir, contract)
    (raw_dir / "empty.csv").write_text("")
    with pytest.raises(ExtractError, match="empty.csv is empty"):
        run(raw_dir, contract)


def test_header_only_file_fails_the_bad_fraction_rule(raw_dir, clean_cohort, contract, keyed):
    write_csv(as_text(clean_cohort.head(0)), raw_dir)
    _, _, accounting = run(raw_dir, contract)
    with pytest.raises(ValidationFailed, match="0 rows"):
        check_bad_fraction(accounting, 0.5)


def test_all_rows_bad_fails_naming_the_most_common_rule(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(40))
    text["age_years"] = "150"
    write_csv(text, raw_dir)
    _, _, accounting = run(raw_dir, contract, max_bad_fraction=0.05)
    assert accounting["refused"] and accounting["max_bad_fraction"] == 0.05
    with pytest.raises(ValidationFailed, match=r"40 of 40 rows.*age_years: in_range\(0, 120\) \(40 rows\)"):
        check_bad_fraction(accounting, 0.05)


def test_duplicates_only_extract(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(1))
    write_csv(pd.concat([text] * 5, ignore_index=True), raw_dir)
    clean, _, accounting = run(raw_dir, contract)
    assert (accounting["rows_in"], len(clean), accounting["rows_exact_duplicate"]) == (5, 1, 4)


def test_near_duplicates_with_other_spellings_are_dropped(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(20))
    resent = text.head(5).copy()
    resent["sex"] = resent["sex"].map({"F": " female", "M": "Hombre", "U": ""})
    resent["temperature_c"] = resent["temperature_c"].str.replace(".", ",") + "0"
    resent["full_name"] = resent["full_name"].str.upper()
    write_csv(pd.concat([text, resent], ignore_index=True), raw_dir)
    clean, _, accounting = run(raw_dir, contract)
    assert (len(clean), accounting["rows_near_duplicate"]) == (20, 5)


def test_unicode_values_survive(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(10))
    text["site_id"] = "Clínica Peña Ñ"
    write_csv(text, raw_dir)
    clean, _, _ = run(raw_dir, contract)
    assert (clean[SITE_ID] == "CLÍNICA PEÑA Ñ").all()


def test_no_personal_data_or_raw_identifier_survives(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(200))
    text.loc[7, "age_years"] = "abc"  # one quarantined row: the quarantine holds no identifier in clear either
    write_csv(text, raw_dir)
    clean, quarantine, _ = run(raw_dir, contract)
    assert not set(contract.spec.personal_data) & (set(clean.columns) | set(quarantine.columns))
    for table in (clean, quarantine):
        flat = set(table.astype(str).to_numpy().ravel().tolist())
        for secret in [*text["full_name"], *text["national_id"], *text["patient_id"], *text["visit_id"]]:
            assert secret not in flat


def test_pseudonyms_are_keyed_and_stable():
    ids = pd.Series(["MRN1", "MRN2", "MRN1"])
    first, other = pseudonymise(ids, b"key-a"), pseudonymise(ids, b"key-b")
    assert first[0] == first[2] != first[1]
    assert not set(first) & set(other)


def test_development_key_only_for_the_simulators_own_files(raw_dir, clean_cohort, contract, monkeypatch,
                                                            tmp_path):
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    path = write_csv(as_text(clean_cohort.head(5)), raw_dir)
    with pytest.raises(ExtractError, match=KEY_VARIABLE):
        run(raw_dir, contract)
    (raw_dir / SIMULATED_MARKER).write_text("{}")  # a marker that does not list the file proves nothing
    with pytest.raises(ExtractError, match=KEY_VARIABLE):
        run(raw_dir, contract)
    write_simulated_marker(raw_dir, [path], {})
    clean, _, _ = run(raw_dir, contract)
    expected = pseudonymise(clean_cohort.head(5)["patient_id"], DEVELOPMENT_KEY.encode())
    assert set(clean[PATIENT_ID]) == set(expected)
    # a real extract beside the simulated cohort (data/raw/incoming) is refused without the key
    incoming = tmp_path / "incoming"
    write_csv(as_text(clean_cohort.iloc[5:10]), incoming, "hospital.csv")
    with pytest.raises(ExtractError, match=rf"{KEY_VARIABLE}.*hospital.csv"):
        run(raw_dir, contract, incoming=incoming)
    # a simulated file edited after the simulator wrote it is no longer the simulator's
    path.write_text(path.read_text().replace("MRN", "XRN"))
    with pytest.raises(ExtractError, match="extract.csv"):
        run(raw_dir, contract)


def test_labels_come_from_the_longest_matching_prefix(contract):
    codes = pd.Series(["J45.901", "J45.0", "E11.65", "E11.9", "ORPHA:558", "Z00.0", "XX1"])
    labels = derive_labels(codes, contract)
    assert labels.tolist()[:6] == ["acute", "chronic", "acute", "chronic", "orphan", "none"]
    assert pd.isna(labels.iloc[6])


def test_two_extracts_with_one_name_do_not_collide_and_name_their_folder(raw_dir, clean_cohort, contract, keyed):
    for site in ("north", "south"):
        text = as_text(clean_cohort.iloc[:20] if site == "north" else clean_cohort.iloc[20:40]).copy()
        text.loc[text.index[2], "age_years"] = "abc"
        write_csv(text, raw_dir / site, "extract.csv")
    _, quarantine, accounting = run(raw_dir, contract)
    ids = quarantine["record_id"].tolist()
    assert accounting["rows_quarantined"] == 2 and len(set(ids)) == 2
    assert any("north/extract.csv:4" in i for i in ids) and any("south/extract.csv:4" in i for i in ids)


def test_record_ids_give_the_physical_line_of_a_csv(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(6))
    text.loc[1, "site_id"] = "S01\nsegunda línea"  # a quoted value spanning two lines
    text.loc[4, "age_years"] = "abc"
    path = write_csv(text, raw_dir)
    _, quarantine, _ = run(raw_dir, contract)
    line = int(quarantine["record_id"].iloc[0].rsplit(":", 1)[1])
    assert line == 7  # header, rows 1-2 (row 2 spans two lines), rows 3-4, then the bad row
    assert "abc" in path.read_text().splitlines()[line - 1]


def test_a_ragged_row_is_quarantined_not_lost(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(6))
    path = write_csv(text.head(5), raw_dir)
    lines = path.read_text().splitlines()
    lines.append(text.tail(1).to_csv(index=False, header=False).strip() + ",extra")
    path.write_text("\n".join(lines) + "\n")
    _, quarantine, accounting = run(raw_dir, contract)
    assert accounting["rows_in"] == 6 and accounting["rows_quarantined"] == 1
    assert reasons_by_column(quarantine)["(row)"]["rule"].startswith("fields: the header has")


def test_semicolon_separated_exports_are_read(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(8))
    text.to_csv(raw_dir / "excel.csv", index=False, sep=";")
    clean, _, _ = run(raw_dir, contract)
    assert len(clean) == 8


def test_reasons_are_strict_json(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(10))
    text.loc[2, "age_years"] = ""  # a required value missing: its failure case is NaN
    write_csv(text, raw_dir)
    _, quarantine, _ = run(raw_dir, contract)

    def no_constants(name):
        raise ValueError(f"non-JSON constant {name}")

    reasons = json.loads(quarantine["reasons"].iloc[0], parse_constant=no_constants)
    assert reasons == [{"column": "age_years", "rule": "not_nullable", "value": None}]


def test_quarantine_csv_is_safe_in_a_spreadsheet(raw_dir, clean_cohort, contract, keyed, tmp_path):
    text = as_text(clean_cohort.head(10))
    text.loc[1, "site_id"] = '=HYPERLINK("http://evil","x")'
    text.loc[1, "diagnosis_code"] = "@SUM(1+1)"
    write_csv(text, raw_dir)
    _, quarantine, _ = run(raw_dir, contract)
    out = tmp_path / "quarantine.csv"
    write_safe_csv(quarantine, out)
    with open(out, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    assert write_safe_csv.__globals__["spreadsheet_safe"]("-1.5") == "-1.5"  # plain numbers stay numbers
