"""A small CDM written by hand (CSV tables, as a site's export), and a contract that reads it: every feature domain,
the person's age and gender, the outcome by ICD-10 and ORPHA source values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

INDEX_DAY = dt.date(2020, 3, 10)
DOMAIN_ROWS = {  # domain table -> (concept column, date column, record id column, the feature's concept)
    "condition_occurrence": ("condition_concept_id", "condition_start_date", "condition_occurrence_id", 437663),
    "observation": ("observation_concept_id", "observation_date", "observation_id", 4089228),
    "measurement": ("measurement_concept_id", "measurement_date", "measurement_id", 3020891),
    "drug_exposure": ("drug_concept_id", "drug_exposure_start_date", "drug_exposure_id", 1125315),
    "procedure_occurrence": ("procedure_concept_id", "procedure_date", "procedure_occurrence_id", 4163872),
}

CONTRACT = """
contract: {name: small-cdm, version: 1.0.0}
source:
  omop:
    cdm: %(cdm)s
    cdm_version: "5.4"
    index_visits: {visit_concepts: [9203]}
    site: care_site
    outcome: {start_days: 0, end_days: 30}
    population: {remove_subjects_with_prior_outcome: true, washout_period: %(washout)d}
features:
  age_years: {type: int, label_es: Edad, min: 0, max: 120, nullable: false, omop: {person: age}}
  sex:
    type: category
    label_es: Sexo
    nullable: false
    omop: {person: gender}
    categories:
      F: {label_es: Mujer, spellings: ["8532"]}
      M: {label_es: Hombre, spellings: ["8507"]}
  sx_fever: {type: binary, label_es: Fiebre, omop: {domain: condition, concepts: [437663], window: {start_days: -30}}}
  sx_cough: {type: binary, label_es: Tos, omop: {domain: observation, concepts: [4089228], window: {start_days: -30}}}
  temperature_c:
    type: float
    label_es: Temperatura
    min: 30
    max: 45
    omop: {domain: measurement, concepts: [3020891], window: {start_days: -30, end_days: %(end_days)d}}
  on_aspirin:
    {type: binary, label_es: Aspirina, omop: {domain: drug_exposure, concepts: [1125315], window: {start_days: -30}}}
  had_xray:
    {type: binary, label_es: Radiografía, omop: {domain: procedure, concepts: [4163872], window: {start_days: -30}}}
outcome:
  classes:
    none: ["Z00"]
    mild: ["J06"]
    orphan: ["ORPHA:"]
"""


class SmallCdm:
    """Persons and emergency visits on INDEX_DAY, plus records planted by the tests, written as CSV tables."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.persons = [{"person_id": p, "gender_concept_id": 8532 if p % 2 else 8507, "year_of_birth": 1980 + p,
                         "month_of_birth": 3, "day_of_birth": 10 + p % 2, "person_source_value": f"MRN-{p:04d}"}
                        for p in range(1, 7)]
        self.visits = [{"visit_occurrence_id": 100 + p, "person_id": p, "visit_concept_id": 9203,
                        "visit_start_date": INDEX_DAY, "care_site_id": 7} for p in range(1, 7)]
        self.records: dict[str, list[dict]] = {table: [] for table in DOMAIN_ROWS}
        self.periods = [{"observation_period_id": p, "person_id": p,
                         "observation_period_start_date": dt.date(2015, 1, 1),
                         "observation_period_end_date": dt.date(2021, 1, 1)} for p in range(1, 7)]

    def record(self, table: str, person: int, days: int, concept: int | None = None, value: float | None = None,
               source_value: str = "") -> None:
        concept_column, day_column, id_column, feature_concept = DOMAIN_ROWS[table]
        rows = self.records[table]
        row = {id_column: len(rows) + 1, "person_id": person, concept_column: concept or feature_concept,
               day_column: INDEX_DAY + dt.timedelta(days=days)}
        if table == "condition_occurrence":
            row["condition_source_value"] = source_value
        if table == "measurement":
            row["value_as_number"] = value
            row["unit_concept_id"] = 586323
        rows.append(row)

    def write(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        tables = {"person": self.persons, "visit_occurrence": self.visits, "observation_period": self.periods,
                  **self.records}
        columns = {"condition_occurrence": ["condition_occurrence_id", "person_id", "condition_concept_id",
                                            "condition_start_date", "condition_source_value"],
                   "measurement": ["measurement_id", "person_id", "measurement_concept_id", "measurement_date",
                                   "value_as_number", "unit_concept_id"]}
        for table, rows in tables.items():
            frame = pd.DataFrame(rows, columns=columns.get(table) or (list(rows[0]) if rows else None))
            if frame.empty and table not in columns:
                concept_column, day_column, id_column, _ = DOMAIN_ROWS[table]
                frame = pd.DataFrame(columns=[id_column, "person_id", concept_column, day_column])
            frame.to_csv(self.folder / f"{table.upper()}.csv", index=False)
        return self.folder


@pytest.fixture
def small_cdm(tmp_path) -> SmallCdm:
    return SmallCdm(tmp_path / "cdm")


def write_contract(path: Path, cdm: Path, washout: int = 0, end_days: int = -1) -> Path:
    path.write_text(CONTRACT % {"cdm": cdm, "washout": washout, "end_days": end_days})
    return path
