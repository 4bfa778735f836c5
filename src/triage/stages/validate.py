"""Stage `validate`: check the ingested table against the contract (Pandera, lazily) and quarantine bad rows.

Every failing row goes to data/interim/quarantine.csv with its reasons (column, rule, value), including the values
ingest could not parse. The accounting rows_in = rows_clean + rows_quarantined + rows_duplicate is checked and
written to reports/validation.json (a DVC metric).
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pandera.pandas as pa

from triage import config, schema
from triage.tables import read_json, write_json, write_parquet

log = config.stage_logger("validate")


class ValidationFailed(ValueError):
    """The table as a whole is unusable: a missing column or too many bad rows."""


def _integer_valued(series: pd.Series) -> pd.Series:
    return series.isna() | (series % 1 == 0)


def _numeric_column(field: schema.NumericField) -> pa.Column:
    checks = [pa.Check.in_range(field.minimum, field.maximum)]
    if field.dtype == "int":
        checks.append(pa.Check(_integer_valued, element_wise=False, name="integer_valued"))
    return pa.Column(float, checks=checks, nullable=field.nullable)


def clean_table_schema() -> pa.DataFrameSchema:
    """The Pandera schema of the clean table, generated from triage.schema."""
    columns: dict[str, pa.Column] = {
        schema.PATIENT_ID: pa.Column(str, nullable=False),
        "visit_id": pa.Column(str, checks=pa.Check.str_length(min_value=1), nullable=False, unique=True),
        "visit_date": pa.Column("datetime64[us]", nullable=False),
        "site_id": pa.Column(str, checks=pa.Check.str_length(min_value=1), nullable=False),
        "sex": pa.Column(str, checks=pa.Check.isin(schema.SEX_CODES), nullable=False),
        **{field.name: _numeric_column(field) for field in schema.NUMERIC_FIELDS},
        **{column: pa.Column(float, checks=pa.Check.isin([0.0, 1.0]), nullable=True)
           for column in schema.SYMPTOM_COLUMNS},
        schema.OUTCOME_COLUMN: pa.Column(str, checks=pa.Check.str_length(min_value=1), nullable=False),
        schema.LABEL_COLUMN: pa.Column(str, checks=pa.Check.isin(schema.CLASSES), nullable=False),
    }
    return pa.DataFrameSchema(columns, strict=False, coerce=False, name="clean_visits")


def contract_failures(frame: pd.DataFrame) -> pd.DataFrame:
    """Failing cells as rows (row position, column, rule, value); raises for table-level faults."""
    missing = [c for c in clean_table_schema().columns if c not in frame.columns]
    if missing:
        raise ValidationFailed(f"validate: column {missing[0]!r} is missing (rule: required by the contract)"
                               + (f"; also missing: {', '.join(missing[1:])}" if len(missing) > 1 else ""))
    try:
        clean_table_schema().validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        table_level = cases[cases["index"].isna()]
        if len(table_level):
            first = table_level.iloc[0]
            raise ValidationFailed(f"validate: column {first['column']!r} fails {first['check']!r} "
                                   f"({first['failure_case']})") from errors
        return pd.DataFrame({"position": cases["index"].astype(int), "column": cases["column"].astype(str),
                             "rule": cases["check"].astype(str), "value": cases["failure_case"].astype(str)})
    return pd.DataFrame(columns=["position", "column", "rule", "value"])


def quarantine_reasons(frame: pd.DataFrame, parse_errors: pd.DataFrame) -> pd.Series:
    """Per bad row (indexed by position): a JSON list of {column, rule, value}."""
    failures = contract_failures(frame)
    position = pd.Series(range(len(frame)), index=frame["record_id"])
    parsed = parse_errors.assign(position=parse_errors["record_id"].map(position))
    reasons = pd.concat([parsed[["position", "column", "rule", "value"]], failures], ignore_index=True)
    # a value ingest could not parse is missing now: drop the follow-on "not nullable" failure of the same cell
    reasons = reasons.drop_duplicates(subset=["position", "column"], keep="first")
    if reasons.empty:
        return pd.Series(dtype=object)
    grouped = reasons.groupby("position")[["column", "rule", "value"]].apply(
        lambda part: json.dumps(part.to_dict(orient="records"), ensure_ascii=False))
    return grouped


def validate(frame: pd.DataFrame, parse_errors: pd.DataFrame, stats: dict, max_bad_fraction: float
             ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    reasons = quarantine_reasons(frame, parse_errors)
    bad = frame.index.isin(reasons.index)
    quarantine = frame[bad].assign(reasons=reasons.reindex(frame.index[bad]).to_numpy())
    clean = frame[~bad].drop(columns=["record_id"]).reset_index(drop=True)
    duplicates = stats["rows_exact_duplicate"] + stats["rows_near_duplicate"]
    rule_counts = Counter(f"{r['column']}: {r['rule']}" for text in quarantine["reasons"] for r in json.loads(text))
    accounting = {"rows_in": stats["rows_in"], "rows_clean": len(clean), "rows_quarantined": len(quarantine),
                  "rows_duplicate": duplicates, "rows_exact_duplicate": stats["rows_exact_duplicate"],
                  "rows_near_duplicate": stats["rows_near_duplicate"],
                  "quarantine_share": round(len(quarantine) / max(len(frame), 1), 6),
                  "reasons": dict(rule_counts.most_common())}
    if accounting["rows_clean"] + accounting["rows_quarantined"] + duplicates != accounting["rows_in"]:
        raise AssertionError(f"validate: accounting does not add up: {accounting}")
    if len(frame) == 0 or accounting["quarantine_share"] > max_bad_fraction:
        top = ", ".join(f"{k} ({v} rows)" for k, v in rule_counts.most_common(3)) or "no rows at all"
        raise ValidationFailed(f"validate: {len(quarantine)} of {len(frame)} rows fail the contract, above "
                               f"validate.max_bad_fraction={max_bad_fraction}; most common: {top}")
    return clean, quarantine, accounting


def main() -> None:
    params = config.load_params()
    frame = pd.read_parquet(config.INGESTED)
    parse_errors = pd.read_parquet(config.PARSE_ERRORS)
    clean, quarantine, accounting = validate(frame, parse_errors, read_json(config.INGEST_STATS),
                                             params["validate"]["max_bad_fraction"])
    write_parquet(clean, config.CLEAN)
    config.QUARANTINE.parent.mkdir(parents=True, exist_ok=True)
    quarantine.to_csv(config.QUARANTINE, index=False)
    write_json(accounting, config.REPORTS / "validation.json")
    log.info("rows_in %d = clean %d + quarantined %d + duplicates %d; quarantine at %s", accounting["rows_in"],
             accounting["rows_clean"], accounting["rows_quarantined"], accounting["rows_duplicate"],
             config.QUARANTINE)


if __name__ == "__main__":
    main()
