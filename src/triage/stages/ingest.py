"""Stage `ingest`: read every raw extract, drop duplicates, pseudonymise, normalise, derive the triage label.

Values are read as text so nothing is coerced silently: a value that cannot be parsed becomes missing *and* is
recorded as a parse error (record, column, rule, value) that `validate` turns into a quarantine reason.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pandas as pd

from triage import config, schema
from triage.stages.simulate import SIMULATED_MARKER
from triage.tables import write_json, write_parquet

KEY_VARIABLE = "TRIAGE_PSEUDONYM_KEY"
DEVELOPMENT_KEY = "triage-development-key-for-the-simulated-cohort-only"
MISSING_MARKERS = {"", "na", "n/a", "nan", "null", "none", "-"}
CONTENT_COLUMNS = [c for c in schema.RAW_COLUMNS if c not in schema.PERSONAL_DATA_COLUMNS]
log = config.stage_logger("ingest")


class ContractError(ValueError):
    """An extract that breaks the raw contract as a whole (not a single row)."""


def list_extracts(raw_dir: Path) -> list[Path]:
    if not raw_dir.is_dir():
        raise ContractError(f"ingest: raw source {raw_dir} does not exist (params base.raw_dir)")
    paths = sorted(p for p in raw_dir.rglob("*") if p.suffix.lower() in {".csv", ".parquet"}
                   and not p.name.startswith(("_", ".")))
    if not paths:
        raise ContractError(f"ingest: no extracts (*.csv, *.parquet) under {raw_dir}")
    return paths


def read_extract(path: Path) -> pd.DataFrame:
    """An extract with every value as text, plus its provenance (file and row)."""
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        except pd.errors.EmptyDataError as error:
            raise ContractError(f"ingest: {path.name} is empty (no header row)") from error
        except UnicodeDecodeError as error:
            raise ContractError(f"ingest: {path.name} is not UTF-8 text ({error.reason} at byte "
                                f"{error.start})") from error
    else:
        frame = pd.read_parquet(path)
        frame = frame.astype(object).where(frame.notna(), "").astype(str)
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in CONTENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ContractError(f"ingest: {path.name} lacks column(s) {', '.join(missing)} "
                            f"(rule: required by the raw contract)")
    present = [c for c in schema.RAW_COLUMNS if c in frame.columns]
    frame = frame[present].copy()
    frame["record_id"] = [f"{path.name}:{i + 2}" for i in range(len(frame))]  # line number in a CSV
    return frame


def pseudonymise(identifiers: pd.Series, key: bytes) -> pd.Series:
    return identifiers.map(lambda value: hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:24])


def pseudonym_key(raw_dir: Path) -> bytes:
    key = os.environ.get(KEY_VARIABLE)
    if key:
        return key.encode("utf-8")
    if (raw_dir / SIMULATED_MARKER).exists():
        return DEVELOPMENT_KEY.encode("utf-8")
    raise ContractError(f"ingest: set {KEY_VARIABLE} (the secret HMAC key for patient identifiers); the fixed "
                        f"development key is only used for the simulated cohort")


class Normaliser:
    """Turns the text columns into typed ones, collecting every value it could not parse."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.errors: list[dict] = []

    def _record(self, bad: pd.Series, column: str, rule: str, raw: pd.Series) -> None:
        for record_id, value in zip(self.frame.loc[bad, "record_id"], raw[bad], strict=True):
            self.errors.append({"record_id": record_id, "column": column, "rule": rule, "value": value})

    def numeric(self, column: str) -> pd.Series:
        raw = self.frame[column].str.strip()
        missing = raw.str.lower().isin(MISSING_MARKERS)
        values = pd.to_numeric(raw.str.replace(",", ".", regex=False).where(~missing), errors="coerce")
        self._record(~missing & values.isna(), column, "type: number", raw)
        return values.astype(float)

    def sex(self) -> pd.Series:
        raw = self.frame["sex"].str.strip()
        codes = raw.str.lower().map(schema.SEX_SPELLINGS)
        self._record(codes.isna(), "sex", f"sex: one of {'/'.join(schema.SEX_CODES)} or a known spelling", raw)
        return codes

    def date(self, column: str) -> pd.Series:
        raw = self.frame[column].str.strip()
        dates = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
        self._record(dates.isna(), column, "date: ISO YYYY-MM-DD", raw)
        return dates

    def triage_class(self, codes: pd.Series, diagnosis_map: pd.DataFrame) -> pd.Series:
        labels = derive_labels(codes, diagnosis_map)
        self._record(labels.isna(), schema.OUTCOME_COLUMN, "listed in data/reference/"
                     "diagnosis_map.csv", codes)
        return labels


def derive_labels(codes: pd.Series, diagnosis_map: pd.DataFrame) -> pd.Series:
    """Triage class by the longest matching code prefix of the diagnosis map (NA where none matches)."""
    prefixes = sorted(zip(diagnosis_map["code_prefix"], diagnosis_map["triage_class"], strict=True),
                      key=lambda item: -len(item[0]))
    unique = pd.Series(codes.unique())
    lookup = {code: next((label for prefix, label in prefixes if code.startswith(prefix)), None)
              for code in unique}
    return codes.map(lookup).astype("string")


def normalise(frame: pd.DataFrame, diagnosis_map: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    norm = Normaliser(frame)
    out = pd.DataFrame({"record_id": frame["record_id"]})
    out[schema.PATIENT_ID] = frame[schema.PATIENT_ID].str.strip()
    out["visit_id"] = frame["visit_id"].str.strip()
    out["visit_date"] = norm.date("visit_date")
    out["site_id"] = frame["site_id"].str.strip().str.upper()
    out["sex"] = norm.sex()
    for field in schema.NUMERIC_FIELDS:
        out[field.name] = norm.numeric(field.name)
    for column in schema.SYMPTOM_COLUMNS:
        out[column] = norm.numeric(column)
    codes = frame[schema.OUTCOME_COLUMN].str.strip().str.upper()
    out[schema.OUTCOME_COLUMN] = codes
    out[schema.LABEL_COLUMN] = norm.triage_class(codes, diagnosis_map)
    errors = pd.DataFrame(norm.errors, columns=["record_id", "column", "rule", "value"])
    return out, errors


def incoming_extracts(incoming_dir: Path | None) -> list[Path]:
    """Labelled extracts added later (`triage retrain`); the directory may hold none yet."""
    if incoming_dir is None or not incoming_dir.is_dir():
        return []
    return sorted(p for p in incoming_dir.rglob("*") if p.suffix.lower() in {".csv", ".parquet"}
                  and not p.name.startswith(("_", ".")))


def ingest(raw_dir: Path, diagnosis_map: pd.DataFrame,
           incoming_dir: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    paths = list_extracts(raw_dir) + incoming_extracts(incoming_dir)
    key = pseudonym_key(raw_dir)
    frames = [read_extract(path) for path in paths]
    for path, frame in zip(paths, frames, strict=True):
        log.info("read %s: %d rows", path.name, len(frame))
    raw = pd.concat(frames, ignore_index=True)
    raw = raw.reindex(columns=[*schema.RAW_COLUMNS, "record_id"], fill_value="")
    rows_in = len(raw)
    exact = raw.duplicated(subset=list(schema.RAW_COLUMNS), keep="first")
    raw = raw[~exact].reset_index(drop=True)
    clean, errors = normalise(raw, diagnosis_map)
    content = [c for c in clean.columns if c not in ("record_id", schema.LABEL_COLUMN)]
    near = clean[content].astype(str).duplicated(keep="first").to_numpy()
    clean = clean[~near].reset_index(drop=True)
    errors = errors[errors["record_id"].isin(clean["record_id"])].reset_index(drop=True)
    clean[schema.PATIENT_ID] = pseudonymise(clean[schema.PATIENT_ID], key)
    stats = {"rows_in": rows_in, "rows_exact_duplicate": int(exact.sum()), "rows_near_duplicate": int(near.sum()),
             "rows_out": len(clean), "rows_with_parse_errors": int(errors["record_id"].nunique()),
             "extracts": [p.name for p in paths]}
    return clean, errors, stats


def read_diagnosis_map(path: Path = config.DIAGNOSIS_MAP) -> pd.DataFrame:
    table = pd.read_csv(path, dtype=str)
    unknown = set(table["triage_class"]) - set(schema.CLASSES)
    if unknown:
        raise ContractError(f"{path}: triage_class {sorted(unknown)} not in {schema.CLASSES}")
    return table


def main() -> None:
    params = config.load_params()
    incoming = params["base"].get("incoming_dir")
    clean, errors, stats = ingest(Path(params["base"]["raw_dir"]), read_diagnosis_map(),
                                  Path(incoming) if incoming else None)
    write_parquet(clean, config.INGESTED)
    write_parquet(errors.astype(str), config.PARSE_ERRORS)
    write_json(stats, config.INGEST_STATS)
    log.info("rows in %d: %d exact and %d near duplicates dropped, %d rows out (%d with parse errors)",
             stats["rows_in"], stats["rows_exact_duplicate"], stats["rows_near_duplicate"], stats["rows_out"],
             stats["rows_with_parse_errors"])


if __name__ == "__main__":
    main()
