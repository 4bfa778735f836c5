"""What a contract says when its source is an OMOP CDM instead of flat extract files.

The source selects index visits (by `visit_concept_id`, in an optional study period), each feature reads a concept
set in a window of days relative to the visit's start (or the person's age and gender), the outcome is the condition
recorded in a window after the visit's start whose source value matches the contract's outcome codes (ICD-10, ORPHA:
prefixes, as flat contracts match them), and the population rules follow OHDSI PatientLevelPrediction's names
(`washout_period`, `remove_subjects_with_prior_outcome`, `prior_outcome_lookback`, `require_time_at_risk`,
`min_time_at_risk`, `first_exposure_only`).

Leakage-safe by construction: a feature window ends the day before the visit unless the contract says otherwise
(`end_days: 0` includes the index day, as OHDSI's `endDays = 0` does, and must be written out), and no window may end
after the visit's day. The extraction (`triage.data.omop`) turns the CDM into the flat per-visit table a flat contract
describes: identifiers `person_id` and `visit_occurrence_id`, context `visit_start_date` and `site`, one column per
feature, and `outcome_source_value`; ingest then pseudonymises, validates and quarantines it as any extract.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from triage.contract.strict import Strict
from triage_shared.classes import CLASSES

DOMAINS = {  # domain -> (table, concept column, date column, source value column, record id column)
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date", "condition_source_value",
                  "condition_occurrence_id"),
    "observation": ("observation", "observation_concept_id", "observation_date", "observation_source_value",
                    "observation_id"),
    "measurement": ("measurement", "measurement_concept_id", "measurement_date", "measurement_source_value",
                    "measurement_id"),
    "drug_exposure": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date", "drug_source_value",
                      "drug_exposure_id"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date", "procedure_source_value",
                  "procedure_occurrence_id"),
}
CDM_VERSIONS = ("5.3", "5.4")
# the flat table the extraction writes: the columns the contract's flat parts then name
PERSON_ID, VISIT_ID, VISIT_DATE, SITE, OUTCOME_VALUE = ("person_id", "visit_occurrence_id", "visit_start_date",
                                                        "site", "outcome_source_value")
NO_CODE = "CDM:NO-CODE-IN-WINDOW"  # the outcome of a visit without a code, when outcome.without_code names a class


class DayRange(Strict):
    """Days relative to the visit's start day: [start_days, end_days], both included."""

    start_days: int
    end_days: int

    @model_validator(mode="after")
    def _ordered(self) -> DayRange:
        if self.start_days > self.end_days:
            raise ValueError(f"start_days {self.start_days} is after end_days {self.end_days}")
        return self


class Window(DayRange):
    """A feature's window: a year up to the day before the visit, by default."""

    start_days: int = -365
    end_days: int = Field(-1, description="-1: up to the day before the visit (the default); 0 includes the index "
                                          "day and must be written out")


class ConceptSet(Strict):
    """Records of one domain whose concept id is in `concepts` (or whose source value starts with one of
    `source_prefixes`), dated within the window. Binary features: any record; numeric: the most recent value."""

    domain: Literal["condition", "observation", "measurement", "drug_exposure", "procedure"]
    concepts: tuple[int, ...] = ()
    source_prefixes: tuple[str, ...] = ()
    descendants: bool = Field(False, description="also every descendant concept (needs the CDM's concept_ancestor)")
    window: Window = Window()
    unit_concepts: tuple[int, ...] = Field((), description="numeric features: only values recorded in these units")
    required: bool = Field(False, description="a concept set that matches no record fails the extraction (else a "
                                              "warning with its count)")

    @model_validator(mode="after")
    def _leakage_safe(self) -> ConceptSet:
        if not self.concepts and not self.source_prefixes:
            raise ValueError("a concept set needs `concepts` or `source_prefixes`")
        if self.window.end_days > 0:
            raise ValueError(f"window.end_days {self.window.end_days} reads records after the visit: a feature "
                             "window ends at 0 (the index day) at the latest, and by default at -1")
        return self


class PersonAttribute(Strict):
    person: Literal["age", "gender"]  # age in years at the visit (year of visit - year of birth); gender concept id


class IndexVisits(Strict):
    visit_concepts: tuple[int, ...] = Field(min_length=1, description="visit_concept_id values, e.g. 9203 "
                                                                       "(emergency room), 9202 (outpatient)")
    study_start: dt.date | None = None
    study_end: dt.date | None = None


class Population(Strict):
    """PatientLevelPrediction's population settings, by the same names (in snake case)."""

    first_exposure_only: bool = False  # only each person's first index visit
    washout_period: int = Field(0, ge=0)  # days of observation (observation_period) required before the visit
    remove_subjects_with_prior_outcome: bool = True  # an orphan outcome recorded before the visit removes it
    prior_outcome_lookback: int = Field(99999, ge=1)
    require_time_at_risk: bool = False
    min_time_at_risk: int = Field(0, ge=0)  # days of observation required after the visit's start


class OutcomeWindow(DayRange):
    start_days: int = Field(0, ge=0)
    end_days: int = Field(30, ge=0)
    priority: tuple[str, ...] = Field(("orphan", "acute", "chronic", "mild", "none"), description="when several "
                                      "outcome codes fall in the window, the first class here wins")
    without_code: str | None = Field(None, description="the class of a visit with no outcome code in the window "
                                     "(PatientLevelPrediction's outcome-free visits), e.g. none; absent: such a visit "
                                     "is quarantined with its reason")


class OmopSource(Strict):
    cdm: str | None = Field(None, min_length=1, description="a DuckDB file, a folder of CDM tables as CSV or "
                            "Parquet, or an SQLAlchemy URL; `env:NAME` reads it from the environment; absent: params' "
                            "data.raw_dir (a file or folder, which DVC then tracks)")
    cdm_version: str = "5.4"
    cdm_schema: str | None = None
    index_visits: IndexVisits
    site: str = Field("care_site", description="`care_site` (the visit's care_site_id) or a constant site name")
    outcome: OutcomeWindow = OutcomeWindow()
    population: Population = Population()

    @model_validator(mode="after")
    def _version(self) -> OmopSource:
        if self.cdm_version not in CDM_VERSIONS:
            raise ValueError(f"cdm_version {self.cdm_version!r} is not supported (supported: {list(CDM_VERSIONS)})")
        return self


class Source(Strict):
    omop: OmopSource


FLAT_PARTS = {"identifiers": {"patient": PERSON_ID, "visit": VISIT_ID},
              "context": {"visit_date": {"column": VISIT_DATE, "format": "%Y-%m-%d"}, "site": SITE}}


def with_flat_parts(data: dict) -> dict:
    """A contract whose source is a CDM: the flat parts the extraction's table implies (identifiers, context, the
    outcome column), refused where the file says otherwise."""
    for part, implied in FLAT_PARTS.items():
        if data.get(part) not in (None, implied):
            raise ValueError(f"{part}: set by source.omop ({implied}); remove it from the contract")
    if data.get("personal_data"):
        raise ValueError("personal_data: the CDM extraction reads no personal data; remove it from the contract")
    outcome = dict(data.get("outcome") or {})
    if outcome.get("column") not in (None, OUTCOME_VALUE):
        raise ValueError(f"outcome.column: set by source.omop ({OUTCOME_VALUE}); remove it from the contract")
    without = ((data["source"]["omop"] or {}).get("outcome") or {}).get("without_code")
    classes = dict(outcome.get("classes") or {})
    if without is not None:
        if without not in classes:
            raise ValueError(f"source.omop.outcome.without_code: {without!r} is not one of outcome.classes "
                             f"{list(classes)}")
        classes[without] = [*classes[without], NO_CODE]
    return {**data, **FLAT_PARTS, "outcome": {**outcome, "column": OUTCOME_VALUE, "classes": classes}}


def check_feature_sources(source: Source | None, mapped: dict[str, bool]) -> None:
    """A CDM source reads every feature (each has `omop:`); a flat contract maps none."""
    if source is None:
        if any(mapped.values()):
            raise ValueError(f"features {sorted(n for n, m in mapped.items() if m)} say where a CDM holds them "
                             "(omop:) but the contract has no source.omop")
        return
    unmapped = sorted(name for name, m in mapped.items() if not m)
    if unmapped:
        raise ValueError(f"features {unmapped}: source.omop needs each feature's `omop:` (a concept set, or "
                         "person: age | gender)")
    unknown = [c for c in source.omop.outcome.priority if c not in CLASSES]
    if unknown:
        raise ValueError(f"source.omop.outcome.priority: {unknown} are not triage classes {list(CLASSES)}")
