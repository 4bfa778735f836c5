"""The CDM extraction: the contract's index visits, features and outcome as the flat per-visit table a flat contract
describes, written as a Parquet extract for ingest, with the exact count of the visits each population rule removed.

Before the query runs, every table and column it needs is checked, and a missing one is refused with the table and
the column named. A concept set that matches no record is a warning with its count, or an error where the contract
marks it `required`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from triage.contract import Contract
from triage.contract.omop import DOMAINS, ConceptSet, PersonAttribute
from triage.data.omop.cdm import Cdm, cdm_location, open_cdm, shown_location
from triage.data.omop.query import CdmQuery, render
from triage.errors import UserError

Progress = Callable[[str], None]


def required_columns(query: CdmQuery) -> dict[str, set[str]]:
    """table -> the columns the extraction reads from it."""
    source = query.settings
    needed: dict[str, set[str]] = {
        "visit_occurrence": {"visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date"},
        "person": {"person_id"},
        "condition_occurrence": {"person_id", "condition_source_value", "condition_start_date",
                                 "condition_occurrence_id"}}
    if source.site == "care_site":
        needed["visit_occurrence"].add("care_site_id")
    if source.population.washout_period or source.population.require_time_at_risk:
        needed["observation_period"] = {"person_id", "observation_period_start_date", "observation_period_end_date"}
    for feature in query.contract.features.values():
        if isinstance(feature.omop, PersonAttribute):
            needed["person"] |= ({"year_of_birth", "month_of_birth", "day_of_birth"} if feature.omop.person == "age"
                                 else {"gender_concept_id"})
        elif isinstance(feature.omop, ConceptSet):
            needed.update(concept_set_columns(feature.omop, feature.type, needed))
    return needed


def concept_set_columns(concepts: ConceptSet, kind: str, needed: dict[str, set[str]]) -> dict[str, set[str]]:
    table, concept, day, source_value, record = DOMAINS[concepts.domain]
    columns = needed.get(table, set()) | {"person_id", day, record}
    columns |= {concept} if concepts.concepts else set()
    columns |= {source_value} if concepts.source_prefixes else set()
    columns |= {"value_as_number"} if kind != "binary" else set()
    columns |= {"unit_concept_id"} if concepts.unit_concepts else set()
    out = {table: columns}
    if concepts.descendants:
        out["concept_ancestor"] = {"ancestor_concept_id", "descendant_concept_id"}
    return out


def check_tables(cdm: Cdm, query: CdmQuery) -> None:
    schema = query.settings.cdm_schema
    for table, columns in sorted(required_columns(query).items()):
        found = cdm.columns(table, schema)
        if found is None:
            raise UserError(f"source.omop: the CDM has no table {table} (the contract needs it)")
        missing = sorted(columns - found)
        if missing:
            raise UserError(f"source.omop: table {table} has no column {missing[0]} (the contract needs "
                            f"{', '.join(missing)})")


def concept_set_counts(cdm: Cdm, query: CdmQuery, progress: Progress) -> dict[str, int]:
    """Records of each feature's concept set in the CDM; an empty set warns, or fails where it is `required`."""
    counts = {}
    for name, concepts in query.concept_features().items():
        counts[name] = int(next(cdm.frames(render(query.matches(name), cdm.engine)))["records"].iloc[0])
        if counts[name] == 0:
            if concepts.required:
                raise UserError(f"features.{name}.omop: the concept set matches no record in the CDM (required)")
            progress(f"warning: features.{name}.omop: the concept set matches no record in the CDM (0 records)")
    return counts


def exclusions(cdm: Cdm, query: CdmQuery) -> tuple[int, dict[str, int]]:
    """The index visits, and how many each population rule removed."""
    total, removed = 0, {}
    for frame in cdm.frames(render(query.exclusions(), cdm.engine)):
        for rule, visits in zip(frame["excluded_by"], frame["visits"], strict=True):
            total += int(visits)
            if not pd.isna(rule):
                removed[str(rule)] = int(visits)
    return total, removed


def write_visits(cdm: Cdm, query: CdmQuery, out: Path, progress: Progress) -> int:
    """The per-visit table as one Parquet file, written a batch at a time; its rows."""
    out.parent.mkdir(parents=True, exist_ok=True)
    writer, rows = None, 0
    try:
        for frame in cdm.frames(render(query.per_visit_table(), cdm.engine)):
            schema = pa.schema([(name, pa.string()) for name in frame.columns])
            text = frame.astype(object).where(frame.notna(), None)
            for name in query.measured():  # the shortest text that reads back as the same double, on any engine
                text[name] = [None if value is None else repr(float(value)) for value in text[name]]
            table = pa.Table.from_pandas(text, schema=schema, preserve_index=False)
            writer = writer or pq.ParquetWriter(out, schema)
            writer.write_table(table)
            rows += len(frame)
            progress(f"{rows:,} visits extracted")
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise UserError("source.omop: no index visit is left (check index_visits and the population rules)")
    return rows


def spark_cdm(spark: Callable[[], Any], folder: Path) -> Cdm:
    from triage.data.omop.spark_cdm import SparkCdm

    return SparkCdm.of_folder(spark(), folder)


def extract_cdm(contract: Contract, out: Path, raw_dir: str, progress: Progress = lambda _: None,
                spark: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Write the contract's per-visit table from its CDM (source.omop.cdm, else `raw_dir`) to `out`; the
    extraction's report. `spark`: the Spark executor's session factory, which then runs the query over a folder of
    CDM tables (a database or a DuckDB file keeps its own engine)."""
    query = CdmQuery(contract)
    source = query.settings
    location = source.cdm or raw_dir
    resolved = cdm_location(location)
    cdm = spark_cdm(spark, Path(resolved)) if spark is not None and Path(resolved).is_dir() else open_cdm(location)
    try:
        check_tables(cdm, query)
        counts = concept_set_counts(cdm, query, progress)
        indexed, removed = exclusions(cdm, query)
        progress(f"{indexed:,} index visits; removed by population rules: {removed or 'none'}")
        rows = write_visits(cdm, query, out, progress)
    finally:
        cdm.close()
    if rows != indexed - sum(removed.values()):
        raise UserError(f"source.omop: {rows} visits extracted, but {indexed} index visits less {sum(removed.values())}"
                        " removed: the CDM changed during the extraction")
    return {"cdm": shown_location(resolved), "engine": cdm.engine, "cdm_version": source.cdm_version,
            "index_visits": indexed, "removed_by_population_rules": removed, "visits": rows,
            "concept_set_records": counts,
            "concept_sets": {name: concepts.model_dump(mode="json") for name, concepts in
                             query.concept_features().items()}}
