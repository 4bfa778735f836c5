"""`triage contract draft --omop CDM`: a draft contract from a CDM, as `contract draft` drafts one from an extract.

It profiles the CDM: the visit types with their counts (the non-inpatient ones proposed as index visits), the most
frequent concepts of each domain in the year before those visits (measurements with values become numeric features,
the rest binary ones), and the condition source values recorded in the 30 days after them (mapped to triage classes
by the reference contract's ICD-10 and ORPHA prefixes, as the flat draft maps them; the others listed unmapped with
their counts). Every guess the user must confirm carries a `review:` note.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import yaml

from triage.contract import Contract
from triage.contract.omop import DOMAINS, NO_CODE
from triage.data.draft import feature_key, outcome_map
from triage.data.omop.cdm import Cdm, open_cdm
from triage.data.omop.query import numbers, render

INPATIENT = 9201
TOP_CONCEPTS = 8  # per domain
HISTORY_DAYS, OUTCOME_DAYS = 365, 30
DOMAIN_PREFIX = {"condition": "history", "observation": "observed", "measurement": "lab", "drug_exposure": "drug",
                 "procedure": "procedure"}


@dataclass
class CdmProfile:
    visit_types: pd.DataFrame  # visit_concept_id, name, visits
    concepts: dict[str, pd.DataFrame] = field(default_factory=dict)  # domain -> concept_id, name, visits, ...
    outcome_codes: Counter = field(default_factory=Counter)


def query_frame(cdm: Cdm, sql: str) -> pd.DataFrame:
    frames = list(cdm.frames(render(sql, cdm.engine)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def concept_names(cdm: Cdm) -> str:
    """A join that names concepts when the CDM has its vocabulary (else every name is empty)."""
    if cdm.columns("concept", None) is None:
        return "LEFT JOIN (SELECT CAST(NULL AS BIGINT) AS concept_id, CAST(NULL AS VARCHAR) AS concept_name) names"
    return "LEFT JOIN concept names"


def profile_cdm(cdm: Cdm) -> CdmProfile:
    names = concept_names(cdm)
    visit_types = query_frame(cdm, f"""SELECT v.visit_concept_id, MAX(names.concept_name) AS name, COUNT(*) AS visits
        FROM visit_occurrence v {names} ON names.concept_id = v.visit_concept_id
        GROUP BY v.visit_concept_id ORDER BY visits DESC, v.visit_concept_id""")
    index = [int(c) for c in visit_types["visit_concept_id"] if int(c) != INPATIENT] or \
        [int(c) for c in visit_types["visit_concept_id"]]
    profile = CdmProfile(visit_types)
    visits = (f"(SELECT visit_occurrence_id, person_id, CAST(visit_start_date AS DATE) AS day FROM visit_occurrence "
              f"WHERE visit_concept_id IN ({numbers(tuple(index))})) v")
    for domain, (table, concept, day, _, _) in DOMAINS.items():
        found = cdm.columns(table, None)
        if found is None or concept not in found:
            continue
        values = ", AVG(CASE WHEN d.value_as_number IS NULL THEN 0 ELSE 1 END) AS with_values, " \
            "QUANTILE_CONT(d.value_as_number, 0.01) AS low, QUANTILE_CONT(d.value_as_number, 0.99) AS high" \
            if domain == "measurement" else ""
        profile.concepts[domain] = query_frame(cdm, f"""SELECT d.{concept} AS concept_id,
              MAX(names.concept_name) AS name, COUNT(DISTINCT v.visit_occurrence_id) AS visits{values}
            FROM {visits} JOIN {table} d ON d.person_id = v.person_id {names} ON names.concept_id = d.{concept}
            WHERE d.{concept} <> 0 AND CAST(d.{day} AS DATE) >= CAST(v.day + INTERVAL '-{HISTORY_DAYS}' DAY AS DATE)
              AND CAST(d.{day} AS DATE) <= CAST(v.day + INTERVAL '-1' DAY AS DATE)
            GROUP BY d.{concept} ORDER BY visits DESC, d.{concept} LIMIT {TOP_CONCEPTS}""")
    codes = query_frame(cdm, f"""SELECT UPPER(TRIM(c.condition_source_value)) AS code, COUNT(*) AS visits
        FROM {visits} JOIN condition_occurrence c ON c.person_id = v.person_id
        WHERE CAST(c.condition_start_date AS DATE) >= v.day
          AND CAST(c.condition_start_date AS DATE) <= CAST(v.day + INTERVAL '{OUTCOME_DAYS}' DAY AS DATE)
        GROUP BY UPPER(TRIM(c.condition_source_value))""")
    profile.outcome_codes = Counter(dict(zip(codes.get("code", []), codes.get("visits", []), strict=True)))
    return profile


def concept_feature(domain: str, row: pd.Series, taken: set[str]) -> tuple[str, dict]:
    name = row["name"] if isinstance(row["name"], str) and row["name"] else f"concept {int(row['concept_id'])}"
    key = feature_key(f"{DOMAIN_PREFIX[domain]}_{name}", taken)
    window = {"start_days": -HISTORY_DAYS, "end_days": -1}
    source = {"domain": domain, "concepts": [int(row["concept_id"])], "window": window}
    note = f"{int(row['visits'])} index visits have a record in the year before; write the Spanish label"
    if domain == "measurement" and row.get("with_values", 0) >= 0.5 and pd.notna(row.get("low")):
        low, high = float(row["low"]), float(row["high"])
        return key, {"type": "float", "label_es": name, "min": low, "max": high if high > low else low + 1,
                     "omop": source, "review": f"{note}; the range is the 1st-99th percentile: widen it to what is "
                     "clinically possible, and state the unit (unit_concepts)"}
    return key, {"type": "binary", "label_es": name, "omop": source, "review": note}


def draft_spec(profile: CdmProfile, reference: Contract | None, cdm: str | None) -> dict:
    index = [int(c) for c in profile.visit_types["visit_concept_id"] if int(c) != INPATIENT]
    taken: set[str] = {"age_years", "sex"}
    features: dict[str, dict] = {
        "age_years": {"type": "int", "label_es": "Edad", "min": 0, "max": 120, "nullable": False,
                      "omop": {"person": "age"}},
        "sex": {"type": "category", "label_es": "Sexo", "nullable": False, "omop": {"person": "gender"},
                "categories": {"F": {"label_es": "Mujer", "spellings": ["8532"]},
                               "M": {"label_es": "Hombre", "spellings": ["8507"]}}}}
    for domain, frame in profile.concepts.items():
        for _, row in frame.iterrows():
            key, feature = concept_feature(domain, row, taken)
            features[key] = feature
    codes = pd.Series(list(profile.outcome_codes.elements()), dtype=object)
    classes, unmapped, _ = outcome_map(codes, reference)
    types = ", ".join(f"{int(row.visit_concept_id)} {row['name'] or ''} ({int(row.visits)})"
                      for _, row in profile.visit_types.iterrows())
    source = {"cdm_version": "5.4", "index_visits": {"visit_concepts": index or [INPATIENT]},
              "site": "care_site", "outcome": {"start_days": 0, "end_days": OUTCOME_DAYS},
              "population": {"washout_period": 365, "remove_subjects_with_prior_outcome": True}}
    if cdm:
        source = {"cdm": cdm, **source}
    return {"contract": {"name": "omop-draft", "version": "0.1.0", "description": "Drafted from an OMOP CDM."},
            "source": {"omop": source},
            "features": features,
            "outcome": {"classes": classes, "unmapped": [c for c in unmapped if c != NO_CODE][:40]},
            "review": [f"visit types (concept, visits): {types}; index visits proposed: {index}",
                       f"outcome codes in the {OUTCOME_DAYS} days after a visit: {len(profile.outcome_codes)} "
                       f"distinct; {len(unmapped)} match no class of the reference map (listed under unmapped: map "
                       "them, or their visits are quarantined; or set source.omop.outcome.without_code)",
                       "cdm_version: confirm it (5.3 or 5.4); site: care_site, or a constant site name"]}


def draft_omop_contract(cdm: str, reference: Contract | None, name_cdm: bool = True) -> tuple[str, int]:
    """The draft contract's YAML and its number of review notes."""
    connection = open_cdm(cdm)
    try:
        spec = draft_spec(profile_cdm(connection), reference, cdm if name_cdm else None)
    finally:
        connection.close()
    header = ("# Draft data contract of an OMOP CDM, written by `triage contract draft --omop`.\n"
              "# Check every guess, above all those with a `review:` note; write the Spanish labels (label_es);\n"
              "# map every outcome code to a triage class. Then `triage contract check FILE`.\n")
    notes = len(spec["review"]) + sum("review" in feature for feature in spec["features"].values())
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=118), notes
