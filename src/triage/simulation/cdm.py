"""The simulated cohort written as an OMOP CDM (CSV tables), so that the CDM source can be compared with the flat
path on the default cohort: the same visits (the clean visits the simulator draws before it adds the mess to the
flat extracts, from the same seeds and batches), the same features, read by
data/contracts/examples/simulated_omop.yaml.

Each visit is a `visit_occurrence` (outpatient) at its site's `care_site`; its person holds the year, month and day of
birth and the gender concept; its vital signs are `measurement`s and its symptom days and comorbidity count numeric
`observation`s, all on the visit's day; each recorded symptom is an `observation` whose source value is its HPO code;
its diagnosis is a `condition_occurrence` on the visit's day with the ICD-10 or ORPHA code as its source value. A
value the flat extract leaves empty has no record. Names, national ids and free text are not written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from triage.contract import Contract
from triage.simulation.build import build_model
from triage.simulation.cohort import BATCH_VISITS, batch_generator, batch_sizes
from triage.simulation.extract_files import append_csv
from triage.simulation.sample import sample_cohort

MEASUREMENTS = {"temperature_c": 3020891, "heart_rate_bpm": 3027018, "resp_rate_bpm": 3024171,
                "spo2_pct": 40762499, "systolic_bp_mmhg": 3004249}
NUMERIC_OBSERVATIONS = {"symptom_days": "SYMPTOM_DAYS", "comorbidity_count": "COMORBIDITY_COUNT"}
GENDER = {"F": 8532, "M": 8507}
OUTPATIENT = 9202


def number(identifier: pd.Series) -> pd.Series:
    """MRN1001405 -> 1001405, V10001605 -> 10001605, S06 -> 6: the CDM's integer ids."""
    return identifier.str.replace(r"^\D+", "", regex=True).astype(np.int64)


def cdm_tables(clean: pd.DataFrame, hpo_codes: dict[str, str]) -> dict[str, pd.DataFrame]:
    """One batch of clean visits as rows of each CDM table."""
    day = pd.to_datetime(clean["visit_date"]).dt.strftime("%Y-%m-%d")
    person, visit = number(clean["patient_id"]), number(clean["visit_id"])
    birth = pd.to_datetime(clean["birth_date"])
    tables = {
        "person": pd.DataFrame({"person_id": person, "gender_concept_id": clean["sex"].map(GENDER).fillna(0)
                                .astype(np.int64), "year_of_birth": birth.dt.year, "month_of_birth": birth.dt.month,
                                "day_of_birth": birth.dt.day}).drop_duplicates("person_id"),
        "visit_occurrence": pd.DataFrame({"visit_occurrence_id": visit, "person_id": person,
                                          "visit_concept_id": OUTPATIENT, "visit_start_date": day,
                                          "visit_end_date": day, "care_site_id": number(clean["site_id"])}),
        "condition_occurrence": pd.DataFrame({"person_id": person, "visit_occurrence_id": visit,
                                              "condition_concept_id": 0, "condition_start_date": day,
                                              "condition_source_value": clean["diagnosis_code"]}),
    }
    measurements = [pd.DataFrame({"person_id": person, "visit_occurrence_id": visit, "measurement_concept_id": concept,
                                  "measurement_date": day, "value_as_number": clean[name]})
                    for name, concept in MEASUREMENTS.items()]
    tables["measurement"] = pd.concat(measurements, ignore_index=True).dropna(subset=["value_as_number"])
    observations = [pd.DataFrame({"person_id": person, "visit_occurrence_id": visit, "observation_concept_id": 0,
                                  "observation_date": day, "value_as_number": clean[name],
                                  "observation_source_value": source})
                    for name, source in NUMERIC_OBSERVATIONS.items()]
    numeric = pd.concat(observations, ignore_index=True).dropna(subset=["value_as_number"])
    symptoms = [pd.DataFrame({"person_id": person[recorded], "visit_occurrence_id": visit[recorded],
                              "observation_concept_id": 0, "observation_date": day[recorded],
                              "value_as_number": np.nan, "observation_source_value": code})
                for name, code in hpo_codes.items() for recorded in [clean[name] == 1]]
    tables["observation"] = pd.concat([numeric, *symptoms], ignore_index=True)
    return tables


def write_simulated_cdm(settings: dict, seed: int, contract: Contract, out: Path,
                        progress: Callable[[str], None] = print) -> dict[str, int]:
    """The cohort of `settings` (params' simulate) as CDM tables in `out`, a batch at a time; rows per table."""
    hpo = {name: feature.codes.hpo for name, feature in contract.features.items() if feature.codes.hpo}
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    visits = 0
    for batch, clean in enumerate(clean_visits(settings, seed)):
        visits += len(clean)
        for table, rows in cdm_tables(clean, hpo).items():
            append_table(out, table, rows, written)
        progress(f"batch {batch + 1}: {visits:,} visits written as a CDM to {out}")
    return written


def clean_visits(settings: dict, seed: int) -> Iterator[pd.DataFrame]:
    """The clean visits of each batch, as `simulate` draws them before it makes them messy (the same generators, the
    same identifiers)."""
    model = build_model(settings, seed)
    visits = patients = 0
    for batch, size in enumerate(batch_sizes(settings["n_visits"], settings.get("batch_visits", BATCH_VISITS))):
        clean = sample_cohort(model, size, settings["start_date"], settings["days"], batch_generator(seed, batch),
                              first_patient=patients, first_visit=visits)
        visits, patients = visits + len(clean), patients + clean["patient_id"].nunique()
        yield clean


def append_table(out: Path, table: str, rows: pd.DataFrame, written: dict[str, int]) -> None:
    """The batch's rows appended to the table's CSV (its header with the first batch), record ids continuing."""
    if table not in ("person", "visit_occurrence"):
        first = written.get(table, 0) + 1
        rows = rows.assign(**{f"{table}_id": np.arange(first, first + len(rows))})
    with (out / f"{table.upper()}.csv").open("a", encoding="utf-8", newline="") as handle:
        append_csv(rows, handle, header=table not in written)
    written[table] = written.get(table, 0) + len(rows)


def simulated_cdm_contract(flat: dict) -> dict:
    """data/contracts/examples/simulated_omop.yaml from the default contract's own file (`flat`, as YAML loads it):
    the same features, ranges, labels and outcome map, each feature read from the CDM on the visit's day (the index
    day, written out: these are the visit's own findings, as the flat extract's columns are)."""
    visit_day = {"start_days": 0, "end_days": 0}
    features = {}
    for name, feature in flat["features"].items():
        feature = {key: value for key, value in feature.items() if key != "column"}
        if name == "age_years":
            feature["omop"] = {"person": "age"}
        elif name == "sex":
            feature["omop"] = {"person": "gender"}
            for code, concept in GENDER.items():
                category = feature["categories"][code]
                category["spellings"] = [*category.get("spellings", []), str(concept)]
        elif name in MEASUREMENTS:
            feature["omop"] = {"domain": "measurement", "concepts": [MEASUREMENTS[name]], "window": visit_day}
        elif name in NUMERIC_OBSERVATIONS:
            feature["omop"] = {"domain": "observation", "source_prefixes": [NUMERIC_OBSERVATIONS[name]],
                               "window": visit_day}
        else:
            feature["omop"] = {"domain": "observation", "source_prefixes": [feature["codes"]["hpo"]],
                               "window": visit_day}
        features[name] = feature
    outcome = {key: value for key, value in flat["outcome"].items() if key != "column"}
    return {"contract": {**flat["contract"], "name": f"{flat['contract']['name']}-omop",
                         "description": "The simulated cohort written as an OMOP CDM (triage omop simulated)."},
            "source": {"omop": {"cdm_version": "5.4", "index_visits": {"visit_concepts": [OUTPATIENT]},
                                "site": "care_site", "outcome": {"start_days": 0, "end_days": 0},
                                "population": {"remove_subjects_with_prior_outcome": False}}},
            "missing_values": flat.get("missing_values"), "decimal_comma": flat.get("decimal_comma", True),
            "features": features, "outcome": outcome, "subgroups": flat.get("subgroups", {})}
