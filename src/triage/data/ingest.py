"""Ingest under a contract, the row work: pseudonymise, normalise, derive the triage label (the row kernel,
triage.data.kernels, runs it on each batch; duplicates are found over all rows by the executors' global steps).

- identifier columns (patient, visit, others) are replaced by a keyed hash (HMAC-SHA256 with TRIAGE_PSEUDONYM_KEY);
  the fixed development key is used only when every extract is the simulator's own output, checked file by file;
- personal-data columns are dropped; columns the contract does not name are counted and listed, never used;
- a contract column missing from an extract is an error naming the column and the extract;
- a feature's `missing_codes` (and the contract's `missing_values`) are read as missing, not as values;
- a value that cannot be parsed becomes missing *and* is recorded (record, column, rule, value), so validate can
  quarantine its row with the reason.

The clean table has canonical column names whatever the extract called them: `patient_id`, `visit_id`, `visit_date`,
`site_id`, the features by their contract names, `outcome_code` and `triage_class`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from triage.contract import BinaryFeature, CategoryFeature, Contract, NumericFeature, feature_spec
from triage.contract.spec import Outcome
from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, PATIENT_ID, SITE_ID, VISIT_DATE, VISIT_ID
from triage.data.extracts import RECORD_ID, Extract, ExtractError, shown_path
from triage.data.locations import Location
from triage.data.simulated_marker import is_simulated
from triage_shared.pseudonym import DEVELOPMENT_KEY, KEY_VARIABLE, pseudonym
from triage_shared.spellings import missing_codes, spelling_key, spelling_lookup

ERROR_COLUMNS = [RECORD_ID, "column", "rule", "value"]


def pseudonymise(identifiers: pd.Series, key: bytes) -> pd.Series:
    return identifiers.map(lambda value: pseudonym(key, value))


def pseudonym_key(real: list[Location], key: str | None = None) -> bytes:
    """`key` when given, else TRIAGE_PSEUDONYM_KEY; without either, the public development key, and only when no
    extract is real (`real`: the extracts that are not the simulator's own output)."""
    key = key if key is not None else os.environ.get(KEY_VARIABLE)
    if key:
        return key.encode("utf-8")
    if real:
        raise ExtractError(f"set {KEY_VARIABLE} (the secret HMAC key for identifiers): {shown_path(real[0])}"
                           + (f" and {len(real) - 1} other extract(s)" if len(real) > 1 else "")
                           + " are not the simulator's output, and the public development key would let anyone "
                             "re-identify their ids")
    return DEVELOPMENT_KEY.encode("utf-8")


@dataclass
class Normaliser:
    """Turns the text columns into typed ones under the contract, collecting every value it could not parse."""

    frame: pd.DataFrame
    contract: Contract
    errors: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.missing_markers = {m.strip().casefold() for m in self.contract.spec.missing_values}
        self.decimal_comma = self.contract.spec.decimal_comma
        # the manifest's view of each feature: the spellings come from where the service reads them
        self.specs = {name: feature_spec(name, feature) for name, feature in self.contract.features.items()}

    def _record(self, bad: pd.Series, column: str, rule: str, raw: pd.Series) -> None:
        for record_id, value in zip(self.frame.loc[bad, RECORD_ID], raw[bad], strict=True):
            self.errors.append({RECORD_ID: record_id, "column": column, "rule": rule, "value": value})

    def _text(self, name: str) -> tuple[pd.Series, pd.Series]:
        """The feature's stripped text and where it means 'not recorded': a missing marker of the whole contract or
        one of the feature's own missing codes (read as missing, never as a value)."""
        raw = self.frame[self.contract.source_column(name)].astype(str).str.strip()
        folded = raw.str.casefold()
        missing = folded.isin(self.missing_markers)
        codes = missing_codes(self.specs[name])
        if codes:
            coded = {value: codes.matches_text(value, self.decimal_comma) for value in folded.unique()}
            missing |= folded.map(coded).astype(bool)
        return raw, missing

    def numeric(self, name: str, feature: NumericFeature) -> pd.Series:
        raw, missing = self._text(name)
        values = parse_numbers(raw.where(~missing), self.decimal_comma)
        self._record(~missing & values.isna(), name, "type: number", raw)
        if feature.convert is not None:
            values = values * feature.convert.factor + feature.convert.offset
        return values.astype(float)

    def _spelled(self, name: str, raw: pd.Series) -> pd.Series:
        """Each value's meaning under the feature's spellings (the shared normaliser); NaN where none."""
        spec = self.specs[name]
        lookup = spelling_lookup(spec)
        keys = {value: spelling_key(spec["type"], value) for value in raw.unique()}
        return raw.map({value: lookup[key] for value, key in keys.items() if key in lookup})

    def binary(self, name: str, feature: BinaryFeature) -> pd.Series:
        raw, missing = self._text(name)
        values = self._spelled(name, raw).astype(float)
        allowed = "/".join([*feature.true_values, *feature.false_values])
        self._record(~missing & values.isna(), name, f"binary: one of {allowed}", raw)
        return values.where(~missing).astype(float)

    def category(self, name: str, feature: CategoryFeature) -> pd.Series:
        raw, missing = self._text(name)
        codes = self._spelled(name, raw)
        missing = codes.isna() & missing  # a listed spelling wins over a missing marker ('' may spell `U`)
        self._record(codes.isna() & ~missing, name, f"category: one of {'/'.join(feature.categories)} or a listed "
                     "spelling", raw)
        return codes

    def date(self, column: str, date_format: str) -> pd.Series:
        raw = self.frame[column].astype(str).str.strip()
        dates = pd.to_datetime(raw, format=date_format, errors="coerce")
        self._record(dates.isna(), VISIT_DATE, f"date: format {date_format}", raw)
        return dates

    def outcome(self) -> tuple[pd.Series, pd.Series]:
        spec = self.contract.spec.outcome
        codes = self.frame[spec.column].astype(str).map(spec.normalise)
        labels = derive_labels(codes, self.contract)
        self._record(labels.isna(), OUTCOME_CODE, f"a code the contract maps to a triage class ({self.contract.path}: "
                     "outcome.classes)", codes)
        return codes, labels


def parse_numbers(text: pd.Series, decimal_comma: bool) -> pd.Series:
    """Numbers from their text ('0,5' too under a decimal comma); NaN where the text is not one."""
    return pd.to_numeric(text.str.replace(",", ".", regex=False) if decimal_comma else text, errors="coerce")


def outcome_entries(outcome: Outcome) -> list[tuple[str, str]]:
    """(normalised code or prefix, triage class) of a contract's outcome map, longest first: the order codes match."""
    return sorted(((outcome.normalise(code), klass) for klass, listed in outcome.classes.items() for code in listed),
                  key=lambda item: -len(item[0]))


def matching_entry(code: str, entries: list[tuple[str, str]], match: str) -> tuple[str, str] | None:
    """The entry a normalised code falls under: the longest matching prefix, or the same code under `exact`."""
    if match == "exact":
        return next(((listed, klass) for listed, klass in entries if listed == code), None)
    return next(((listed, klass) for listed, klass in entries if code.startswith(listed)), None)


def derive_labels(codes: pd.Series, contract: Contract) -> pd.Series:
    """Triage class of each outcome code: the longest matching prefix (or the exact code) in the contract's map."""
    outcome = contract.spec.outcome
    entries = outcome_entries(outcome)
    lookup = {code: (entry[1] if (entry := matching_entry(code, entries, outcome.match)) else None)
              for code in codes.unique()}
    return codes.map(lookup).astype("string")


def missing_columns(frame: pd.DataFrame, contract: Contract) -> list[str]:
    """Columns the contract needs that the extract lacks (personal data need not be present: it is dropped)."""
    needed = [column for role, column in contract.spec.source_columns() if role not in ("personal data", "ignored")]
    return [column for column in needed if column not in frame.columns]


def unknown_columns(frame: pd.DataFrame, contract: Contract) -> list[str]:
    named = {column for _, column in contract.spec.source_columns()}
    return [column for column in frame.columns if column != RECORD_ID and column not in named]


def normalise(frame: pd.DataFrame, contract: Contract, key: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The typed table in canonical columns and the parse errors (record, column, rule, value)."""
    norm = Normaliser(frame, contract)
    spec = contract.spec
    out = pd.DataFrame({RECORD_ID: frame[RECORD_ID]})
    ids = spec.identifiers
    visit = frame[ids.visit].astype(str).str.strip() if ids.visit else frame[RECORD_ID]
    out[PATIENT_ID] = pseudonymise(frame[ids.patient].astype(str).str.strip() if ids.patient else visit, key)
    out[VISIT_ID] = pseudonymise(visit, key)
    for column in ids.other:
        out[column] = pseudonymise(frame[column].astype(str).str.strip(), key)
    if spec.context.visit_date:
        out[VISIT_DATE] = norm.date(spec.context.visit_date.column, spec.context.visit_date.format)
    if spec.context.site:
        out[SITE_ID] = frame[spec.context.site].astype(str).str.strip().str.upper()
    parsers: dict[type, Callable] = {NumericFeature: norm.numeric, BinaryFeature: norm.binary,
                                     CategoryFeature: norm.category}
    for name, feature in contract.features.items():
        out[name] = parsers[type(feature)](name, feature)
    out[OUTCOME_CODE], out[LABEL_COLUMN] = norm.outcome()
    return out, pd.DataFrame(norm.errors, columns=ERROR_COLUMNS)


def header_findings(first_batch: Extract, contract: Contract, unknown: dict[str, list[str]],
                    progress: Callable[[str], None]) -> None:
    """Refuses an extract that lacks a contract column; records (and reports) the columns the contract does not
    name, which are never used."""
    frame, name = first_batch.frame, shown_path(first_batch.path)
    missing = missing_columns(frame, contract)
    if missing:
        raise ExtractError(f"{name} lacks column(s) {', '.join(missing)} named by the contract {contract.path} "
                           "(rule: every contract column is in every extract)")
    extra = unknown_columns(frame, contract)
    if extra:
        unknown[name] = extra
        progress(f"WARNING {name}: {len(extra)} column(s) not in the contract, not used: {', '.join(extra)}")


def ingest_stats(counts: dict[str, int], unknown: dict[str, list[str]], simulated: bool,
                 contract: Contract) -> dict:
    """data/interim/ingest_stats.json: rows read per extract (duplicates are found by validate, over all rows)."""
    return {"rows_in": sum(counts.values()), "extracts": counts, "simulated": simulated,
            "columns_not_in_contract": unknown,
            "contract": {"name": contract.name, "version": contract.version, "sha256": contract.sha256}}


def extract_key(paths: list[Location], key: str | None = None) -> tuple[bytes, bool]:
    """The pseudonymisation key for these extracts (see `pseudonym_key`) and whether they are all simulated."""
    real = [path for path in paths if not is_simulated(path)]
    return pseudonym_key(real, key), not real
