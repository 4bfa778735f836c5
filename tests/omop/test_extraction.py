"""A CDM as the source, on DuckDB over a hand-written CDM: no feature reads a record dated after the visit's start
(a "future" record planted in every domain), the index day only where the contract says so, the outcome by ICD-10 and
ORPHA source values after the visit, PatientLevelPrediction's population rules counted exactly, a visit whose person
is missing kept and quarantined by ingest with its reason, and a CDM missing what the contract needs refused by
name."""

from __future__ import annotations

import pandas as pd
import pytest

from triage.contract import ContractFileError, load_contract
from triage.data.omop.extract import extract_cdm
from triage.errors import UserError

from ..conftest import ingest_and_validate
from .conftest import DOMAIN_ROWS, write_contract

FEATURE_OF = {"condition_occurrence": "sx_fever", "observation": "sx_cough", "measurement": "temperature_c",
              "drug_exposure": "on_aspirin", "procedure_occurrence": "had_xray"}


def extracted(cdm, tmp_path, **contract) -> tuple[pd.DataFrame, dict]:
    folder = cdm.write()
    report = extract_cdm(load_contract(write_contract(tmp_path / "contract.yaml", folder, **contract)),
                         tmp_path / "visits.parquet", raw_dir="")
    visits = pd.read_parquet(tmp_path / "visits.parquet").astype(object)
    return visits.where(visits.notna(), None).set_index("person_id"), report


def plant_every_domain(cdm, person: int, days: int, value: float) -> None:
    for table in DOMAIN_ROWS:
        cdm.record(table, person, days, value=value)


def test_no_feature_reads_a_record_dated_after_the_visit_in_any_domain(small_cdm, tmp_path):
    plant_every_domain(small_cdm, 1, -1, 38.1)  # the day before: read
    for person, days in ((2, 0), (3, 1), (4, 30)):  # the index day (not by default), the day after, a month after
        plant_every_domain(small_cdm, person, days, 40.0 + days)
    plant_every_domain(small_cdm, 5, -20, 37.2)  # older, then a future record of the same person
    plant_every_domain(small_cdm, 5, 2, 41.9)
    visits, _ = extracted(small_cdm, tmp_path)
    for table, feature in FEATURE_OF.items():
        column = visits[feature]
        if feature == "temperature_c":
            assert column.to_dict() == {"1": "38.1", "2": None, "3": None, "4": None, "5": "37.2", "6": None}
        else:
            assert column.to_dict() == {"1": "1", "2": "0", "3": "0", "4": "0", "5": "1", "6": "0"}, table


def test_the_index_day_is_read_only_where_the_contract_says_end_days_0(small_cdm, tmp_path):
    small_cdm.record("measurement", 1, -3, value=37.0)
    small_cdm.record("measurement", 1, 0, value=39.4)  # the index day
    small_cdm.record("measurement", 1, 1, value=40.2)  # never
    visits, _ = extracted(small_cdm, tmp_path, end_days=0)
    assert visits.loc["1", "temperature_c"] == "39.4"


def test_a_window_ending_after_the_visit_is_refused_with_the_field_and_the_rule(small_cdm, tmp_path):
    with pytest.raises(ContractFileError, match=r"temperature_c.*end_days 1 reads records after the visit"):
        load_contract(write_contract(tmp_path / "contract.yaml", small_cdm.write(), end_days=1))


def test_the_outcome_is_the_code_after_the_visit_orphan_first_and_prior_orphans_leave(small_cdm, tmp_path):
    small_cdm.record("condition_occurrence", 1, 3, concept=1, source_value="J06.9")
    small_cdm.record("condition_occurrence", 1, 9, concept=1, source_value="ORPHA:558")  # later, but orphan first
    small_cdm.record("condition_occurrence", 2, 0, concept=1, source_value="Z00.0")
    small_cdm.record("condition_occurrence", 3, -1, concept=1, source_value="J06.9")  # before the visit: no outcome
    small_cdm.record("condition_occurrence", 3, 31, concept=1, source_value="J06.9")  # after the window: none
    small_cdm.record("condition_occurrence", 4, -400, concept=1, source_value="orpha:79")  # a known orphan patient
    visits, report = extracted(small_cdm, tmp_path)
    assert visits["outcome_source_value"].to_dict() == {"1": "ORPHA:558", "2": "Z00.0", "3": None, "5": None,
                                                        "6": None}
    assert report["index_visits"] == 6 and report["visits"] == 5
    assert report["removed_by_population_rules"] == {"remove_subjects_with_prior_outcome": 1}


def test_washout_removes_visits_without_enough_observation_before_them(small_cdm, tmp_path):
    small_cdm.periods[0]["observation_period_start_date"] = pd.Timestamp("2020-01-01").date()  # 69 days before
    visits, report = extracted(small_cdm, tmp_path, washout=365)
    assert "1" not in visits.index and report["removed_by_population_rules"] == {"washout_period": 1}


def test_a_visit_without_its_person_is_kept_and_quarantined_with_its_reason(small_cdm, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_PSEUDONYM_KEY", "k" * 32)
    small_cdm.persons = small_cdm.persons[1:]  # person 1's row is gone; the visit stays
    for person in range(1, 7):
        small_cdm.record("condition_occurrence", person, 2, concept=1, source_value="J06")
    visits, _ = extracted(small_cdm, tmp_path)
    assert visits.loc["1", "age_years"] is None and len(visits) == 6
    contract = load_contract(tmp_path / "contract.yaml")
    clean, quarantine, accounting = ingest_and_validate([tmp_path / "visits.parquet"], contract)
    assert len(clean) == 5 and len(quarantine) == 1
    assert "age_years" in " ".join(map(str, quarantine.iloc[0].to_dict().values()))
    assert accounting["rows_in"] == 6


@pytest.mark.parametrize(("table", "column"), [("person", None), ("measurement", "value_as_number")])
def test_a_cdm_missing_a_table_or_column_the_contract_needs_is_refused_by_name(small_cdm, tmp_path, table, column):
    small_cdm.record("measurement", 1, -1, value=38.0)
    folder = small_cdm.write()
    path = folder / f"{table.upper()}.csv"
    if column is None:
        path.unlink()
        message = f"the CDM has no table {table}"
    else:
        pd.read_csv(path).drop(columns=[column]).to_csv(path, index=False)
        message = f"table {table} has no column {column}"
    contract = load_contract(write_contract(tmp_path / "contract.yaml", folder))
    with pytest.raises(UserError, match=message):
        extract_cdm(contract, tmp_path / "visits.parquet", raw_dir="")


def test_the_model_card_names_the_cdm_its_version_and_the_concept_sets(small_cdm, tmp_path):
    from triage.release.card import cdm_lines

    _, report = extracted(small_cdm, tmp_path)
    text = "\n".join(cdm_lines(report))
    assert f"OMOP CDM 5.4 at `{tmp_path / 'cdm'}` (duckdb): 6 of 6 index visits" in text
    assert "`temperature_c` measurement [3020891] in days [-30, -1]" in text


def test_an_empty_concept_set_warns_with_its_count_or_fails_where_required(small_cdm, tmp_path):
    folder = small_cdm.write()
    path = write_contract(tmp_path / "contract.yaml", folder)
    said: list[str] = []
    extract_cdm(load_contract(path), tmp_path / "visits.parquet", raw_dir="", progress=said.append)
    assert "warning: features.sx_cough.omop: the concept set matches no record in the CDM (0 records)" in said
    path.write_text(path.read_text().replace("concepts: [4089228],", "concepts: [4089228], required: true,"))
    with pytest.raises(UserError, match=r"features.sx_cough.omop: the concept set matches no record .*required"):
        extract_cdm(load_contract(path), tmp_path / "visits.parquet", raw_dir="")


def test_an_unsupported_cdm_version_is_refused_by_the_contract(small_cdm, tmp_path):
    path = write_contract(tmp_path / "contract.yaml", small_cdm.write())
    path.write_text(path.read_text().replace('cdm_version: "5.4"', 'cdm_version: "6.0"'))
    with pytest.raises(ContractFileError, match=r"cdm_version '6.0' is not supported \(supported: \['5.3', '5.4'\]\)"):
        load_contract(path)


def test_age_is_in_completed_years_when_the_birthday_is_recorded(small_cdm, tmp_path):
    small_cdm.persons[2]["month_of_birth"] = None  # the year only: PatientLevelPrediction's year difference
    visits, _ = extracted(small_cdm, tmp_path)
    # born 1981-03-11: the day before the 39th birthday; 1982-03-10: the 38th birthday; 1983-?-?: 2020 - 1983
    assert visits.loc["1", "age_years"] == "38" and visits.loc["2", "age_years"] == "38"
    assert visits.loc["3", "age_years"] == "37"
