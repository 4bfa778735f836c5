"""Validation of the ingested table against the contract (Pandera, lazily) and the quarantine of bad rows.

Every failing row goes to quarantine with its reasons (column, rule, value) as strict JSON, including the values
ingest could not parse. A reason never carries the value of an identifier or personal-data column, and a malformed
row's (wrong number of fields) carries no value at all: its cells may have shifted from such a column. The accounting
rows_in = rows_clean + rows_quarantined + rows_duplicate is checked.

`validate` never refuses for the share of bad rows: it records the limit and the verdict in the accounting, so a
caller writes the quarantine and the accounting first and then calls `check_bad_fraction`, which raises.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter

import pandas as pd

from triage.contract import BinaryFeature, CategoryFeature, Contract, NumericFeature
from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, PATIENT_ID, SITE_ID, VISIT_DATE, VISIT_ID
from triage.data.extracts import RECORD_ID, ROW_FAULT_COLUMN
from triage.errors import UserError

with warnings.catch_warnings():  # pandera imports pyspark.pandas when the spark extra is installed, which warns
    warnings.simplefilter("ignore", FutureWarning)  # about pandas 3; triage runs Spark through Arrow (mapInPandas)
    import pandera.pandas as pa


class ValidationFailed(UserError, ValueError):
    """The table as a whole is unusable: a missing column or too many bad rows."""


def _integer_valued(series: pd.Series) -> pd.Series:
    return series.isna() | (series % 1 == 0)


def _plain(number: float) -> float | int:
    """30.0 -> 30, so a rule reads in_range(30, 45) as the contract file says it."""
    return int(number) if float(number).is_integer() else number


def feature_column(feature) -> pa.Column:
    if isinstance(feature, NumericFeature):
        checks = [pa.Check.in_range(_plain(feature.min), _plain(feature.max))]
        if feature.type == "int":
            checks.append(pa.Check(_integer_valued, element_wise=False, name="integer_valued"))
        return pa.Column(float, checks=checks, nullable=feature.nullable)
    if isinstance(feature, BinaryFeature):
        return pa.Column(float, checks=pa.Check.isin([0.0, 1.0]), nullable=feature.nullable)
    assert isinstance(feature, CategoryFeature)
    return pa.Column(str, checks=pa.Check.isin(list(feature.categories)), nullable=feature.nullable)


def clean_table_schema(contract: Contract, unique_visits: bool = True) -> pa.DataFrameSchema:
    """The Pandera schema of the clean table, generated from the contract. The row kernel checks a batch without
    `unique_visits` (uniqueness is global: the executors check it over all rows)."""
    non_empty = pa.Check.str_length(min_value=1)
    columns: dict[str, pa.Column] = {
        PATIENT_ID: pa.Column(str, nullable=False),
        VISIT_ID: pa.Column(str, checks=non_empty, nullable=False, unique=unique_visits),
        **{column: pa.Column(str, nullable=False) for column in contract.spec.identifiers.other},
    }
    if contract.spec.context.visit_date:
        columns[VISIT_DATE] = pa.Column("datetime64[us]", nullable=False)
    if contract.spec.context.site:
        columns[SITE_ID] = pa.Column(str, checks=non_empty, nullable=False)
    columns.update({name: feature_column(feature) for name, feature in contract.features.items()})
    columns[OUTCOME_CODE] = pa.Column(str, checks=non_empty, nullable=False)
    columns[LABEL_COLUMN] = pa.Column(str, checks=pa.Check.isin(list(contract.classes)), nullable=False)
    return pa.DataFrameSchema(columns, strict=False, coerce=False, name=f"clean_visits ({contract.name})")


def contract_failures(frame: pd.DataFrame, contract: Contract, unique_visits: bool = True) -> pd.DataFrame:
    """Failing cells as rows (row position, column, rule, value); raises for table-level faults."""
    schema = clean_table_schema(contract, unique_visits)
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise ValidationFailed(f"validate: column {missing[0]!r} is missing (rule: required by the contract)"
                               + (f"; also missing: {', '.join(missing[1:])}" if len(missing) > 1 else ""))
    if frame.empty:  # no row can fail, and the dtypes of empty columns mean nothing (check_bad_fraction refuses)
        return pd.DataFrame(columns=["position", "column", "rule", "value"])
    try:
        schema.validate(frame, lazy=True)
    except (pa.errors.SchemaErrors, pa.errors.SchemaError) as errors:
        cases = errors.failure_cases if isinstance(errors, pa.errors.SchemaErrors) else None
        if cases is None:
            raise ValidationFailed(f"validate: {errors}") from errors
        table_level = cases[cases["index"].isna()]
        if len(table_level):
            first = table_level.iloc[0]
            raise ValidationFailed(f"validate: column {first['column']!r} fails {first['check']!r} "
                                   f"({first['failure_case']})") from errors
        return pd.DataFrame({"position": cases["index"].astype(int), "column": cases["column"].astype(str),
                             "rule": cases["check"].astype(str), "value": cases["failure_case"].map(_shown)})
    return pd.DataFrame(columns=["position", "column", "rule", "value"])


def _shown(value: object) -> str | None:
    """A failing value as text for the quarantine file (NaN, NA and None: null, never the non-JSON NaN)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return str(value)


def private_columns(contract: Contract) -> set[str]:
    """Columns (canonical and as in the extract) whose values never reach a reason: identifiers and personal data."""
    ids = contract.spec.identifiers
    return {PATIENT_ID, VISIT_ID, *ids.other, *(c for c in (ids.patient, ids.visit) if c), *contract.spec.personal_data}


def withhold_values(reasons: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Reasons as they may be written: a malformed row keeps only its row fault, without a value (its other cells
    may hold a shifted name or identifier); any reason about an identifier or personal-data column loses its value."""
    malformed = reasons["column"] == ROW_FAULT_COLUMN
    reasons = reasons[malformed | ~reasons["position"].isin(reasons.loc[malformed, "position"])]
    withheld = reasons["column"].isin(private_columns(contract)) | (reasons["column"] == ROW_FAULT_COLUMN)
    values = [None if hidden else _shown(value) for value, hidden in zip(reasons["value"], withheld, strict=True)]
    return reasons.assign(value=pd.Series(values, index=reasons.index, dtype=object))


def source_names(contract: Contract) -> dict[str, str]:
    """Canonical clean-table column -> the extract's column, so a reason names the column the user sees."""
    spec = contract.spec
    names = {name: contract.source_column(name) for name in contract.feature_names}
    names[OUTCOME_CODE] = names[LABEL_COLUMN] = spec.outcome.column
    if spec.identifiers.patient:
        names[PATIENT_ID] = spec.identifiers.patient
    if spec.identifiers.visit:
        names[VISIT_ID] = spec.identifiers.visit
    if spec.context.visit_date:
        names[VISIT_DATE] = spec.context.visit_date.column
    if spec.context.site:
        names[SITE_ID] = spec.context.site
    return names


def quarantine_reasons(frame: pd.DataFrame, parse_errors: pd.DataFrame, contract: Contract,
                       unique_visits: bool = True) -> pd.Series:
    """Per bad row (indexed by position): a strict-JSON list of {column, rule, value}, the column named as in the
    extract."""
    failures = contract_failures(frame, contract, unique_visits)
    position = pd.Series(range(len(frame)), index=frame[RECORD_ID])
    parsed = parse_errors.assign(position=parse_errors[RECORD_ID].map(position))
    reasons = pd.concat([parsed[["position", "column", "rule", "value"]], failures], ignore_index=True)
    reasons = withhold_values(reasons, contract)
    names = source_names(contract)
    reasons["column"] = reasons["column"].map(lambda column: names.get(column, column))
    # a value ingest could not parse is missing now: drop the follow-on failure of the same cell (a missing value
    # where none may be, or no triage class for an outcome code the contract does not map)
    reasons = reasons.drop_duplicates(subset=["position", "column"], keep="first")
    if reasons.empty:
        return pd.Series(dtype=object)
    return reasons.groupby("position")[["column", "rule", "value"]].apply(
        lambda part: json.dumps(part.to_dict(orient="records"), ensure_ascii=False, allow_nan=False))


def finish_quarantine(quarantine: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The quarantined rows as written: the global reason (a visit id held by two rows) added to each row's reasons,
    without its value (an identifier)."""
    visit_column = source_names(contract).get(VISIT_ID, VISIT_ID)
    repeated = {"column": visit_column, "rule": "field_uniqueness", "value": None}
    reasons = [json.dumps([*(json.loads(text) if isinstance(text, str) else []), *([repeated] if twice else [])],
                          ensure_ascii=False, allow_nan=False)
               for text, twice in zip(quarantine["reasons"], quarantine["repeated_visit"].fillna(False), strict=True)]
    return quarantine.drop(columns=["repeated_visit"]).assign(reasons=pd.Series(reasons, index=quarantine.index,
                                                                                dtype=object))


def validation_accounting(stats: dict, rows_clean: int, quarantine: pd.DataFrame, max_bad_fraction: float) -> dict:
    """The accounting with `max_bad_fraction` and the verdict (`refused`) in it. It never raises for the share of
    bad rows: a refusal is `check_bad_fraction`'s, after the caller has written what was refused."""
    rows_out = stats["rows_in"] - stats["rows_exact_duplicate"] - stats["rows_near_duplicate"]
    accounting = row_accounting(stats, rows_out, rows_clean, quarantine)
    # no `refusal` text here: the intake's accounting has its own `refusal` key, which this would overwrite
    accounting.update(max_bad_fraction=max_bad_fraction, refused=refusal(accounting, max_bad_fraction) is not None)
    return accounting


def row_accounting(stats: dict, rows_out: int, rows_clean: int, quarantine: pd.DataFrame) -> dict:
    """rows_in = rows_clean + rows_quarantined + rows_duplicate (checked), and the reasons by rule."""
    duplicates = stats["rows_exact_duplicate"] + stats["rows_near_duplicate"]
    rule_counts = Counter(f"{r['column']}: {r['rule']}" for text in quarantine["reasons"] for r in json.loads(text))
    accounting = {"rows_in": stats["rows_in"], "rows_clean": rows_clean, "rows_quarantined": len(quarantine),
                  "rows_duplicate": duplicates, "rows_exact_duplicate": stats["rows_exact_duplicate"],
                  "rows_near_duplicate": stats["rows_near_duplicate"],
                  "quarantine_share": round(len(quarantine) / max(rows_out, 1), 6),
                  "reasons": dict(rule_counts.most_common()),
                  "extracts": stats.get("extracts", {}),
                  "columns_not_in_contract": stats.get("columns_not_in_contract", {}),
                  "contract": stats.get("contract", {})}
    if rows_clean + len(quarantine) + duplicates != accounting["rows_in"]:
        raise AssertionError(f"validate: accounting does not add up: {accounting}")
    return accounting


def refusal(accounting: dict, max_bad_fraction: float) -> str | None:
    """Why the rows as a whole are refused, on one line (None: accepted): no rows at all, a quarantine share above
    the limit, or no clean row left."""
    rows_in, quarantined = accounting["rows_in"], accounting["rows_quarantined"]
    top = ", ".join(f"{rule} ({count} rows)" for rule, count in list(accounting["reasons"].items())[:3])
    if rows_in == 0:
        message = "0 rows: the extracts hold a header and no data rows (rule: the extracts hold rows)"
    elif accounting["quarantine_share"] > max_bad_fraction:
        message = (f"{quarantined} of {rows_in - accounting['rows_duplicate']} rows fail the contract "
                   f"({accounting['quarantine_share']:.1%}), above validate.max_bad_fraction={max_bad_fraction}; "
                   f"most common: {top}")
    elif accounting["rows_clean"] == 0:
        message = (f"0 rows left clean of {rows_in} rows in ({quarantined} quarantined, "
                   f"{accounting['rows_duplicate']} duplicates)" + (f"; most common: {top}" if top else ""))
    else:
        return None
    return "validate: " + " ".join(message.split())


def check_bad_fraction(accounting: dict, max_bad_fraction: float) -> None:
    """Raises ValidationFailed (one line: the limit, the fraction, the most common reasons) when the rows are refused
    under `max_bad_fraction`; call it after writing the quarantine and the accounting, so the refusal can be seen."""
    message = refusal(accounting, max_bad_fraction)
    if message is not None:
        raise ValidationFailed(message)
