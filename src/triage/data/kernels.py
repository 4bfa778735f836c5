"""The contract-derived row work, written once as a function on a batch of rows: either executor runs it.

`ingest_batch` takes one batch of an extract as text (triage.data.extracts) and returns the typed rows in canonical
columns (identifiers keyed-hashed, personal data dropped, values normalised and converted, the triage label derived)
with the technical columns the global steps need:

- `record_id` (file and line) and `record_order` (the extract's position in the sorted extract list and the record's
  position in the extract): the canonical order, so "the first of two duplicates" is the same row on every engine;
- `malformed`: the record had the wrong number of fields (never a duplicate, always quarantined);
- two 128-bit keyed digests (pairs of int64, keyed by the pseudonymisation key, so they reveal nothing of the values
  they hash): of the raw text of the contract's columns (exact duplicates) and of the normalised row without its
  record id and label (near duplicates: the same visit re-exported with other spellings or units);
- `reasons`: why the row fails the contract, as strict JSON (parse errors and the Pandera checks that need one row
  only), or null. Whether a visit id is unique is global: the executors check it over all rows.

Nothing here depends on other batches, so a local loop over the extracts and Spark's `mapInPandas` give the same rows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa

from triage.contract import BinaryFeature, Contract, NumericFeature
from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, PATIENT_ID, SITE_ID, VISIT_DATE, VISIT_ID
from triage.data.extracts import RECORD_ID, Extract
from triage.data.ingest import ERROR_COLUMNS, normalise
from triage.data.validation import quarantine_reasons

RECORD_ORDER = "record_order"
MALFORMED = "malformed"
REASONS = "reasons"
EXACT_DIGEST = ("exact_digest_a", "exact_digest_b")
NEAR_DIGEST = ("near_digest_a", "near_digest_b")
TECHNICAL = (RECORD_ID, RECORD_ORDER, MALFORMED, *EXACT_DIGEST, *NEAR_DIGEST, REASONS)
SOURCE_SHIFT = 40  # record_order = extract position << 40 | record position: 2**40 records per extract


def kept_columns(contract: Contract) -> list[str]:
    """The extract's columns ingest reads (every contract column but the ignored ones), in contract order."""
    return [column for role, column in contract.spec.source_columns() if role != "ignored"]


def canonical_columns(contract: Contract) -> list[str]:
    """The clean table's columns, in order: identifiers, context, features, outcome and label."""
    spec = contract.spec
    columns = [PATIENT_ID, VISIT_ID, *spec.identifiers.other]
    columns += [VISIT_DATE] if spec.context.visit_date else []
    columns += [SITE_ID] if spec.context.site else []
    return [*columns, *contract.feature_names, OUTCOME_CODE, LABEL_COLUMN]


def row_schema(contract: Contract) -> pa.Schema:
    """The Arrow schema of the kernel's output, the same for every batch and engine."""
    def kind(column: str) -> pa.DataType:
        feature = contract.features.get(column)
        if isinstance(feature, NumericFeature | BinaryFeature):
            return pa.float64()
        if column == VISIT_DATE:
            return pa.timestamp("us")
        return pa.string()

    fields = [pa.field(column, kind(column)) for column in canonical_columns(contract)]
    fields += [pa.field(RECORD_ID, pa.string()), pa.field(RECORD_ORDER, pa.int64()), pa.field(MALFORMED, pa.bool_())]
    fields += [pa.field(name, pa.int64()) for name in (*EXACT_DIGEST, *NEAR_DIGEST)]
    return pa.schema([*fields, pa.field(REASONS, pa.string())])


def digest_keys(key: bytes, purpose: str) -> tuple[str, str]:
    """Two 16-character SipHash keys derived from the pseudonymisation key: the digests are keyed like the ids."""
    material = hashlib.sha256(key + b"\x00" + purpose.encode()).hexdigest()
    return material[:16], material[16:32]


def keyed_digest(frame: pd.DataFrame, key: bytes, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    """A 128-bit keyed hash of each row's values (two int64 columns; collisions at 10**8 rows: ~1e-23)."""
    first, second = digest_keys(key, purpose)
    hashed = [pd.util.hash_pandas_object(frame, index=False, hash_key=k).to_numpy().view(np.int64)
              for k in (first, second)]
    return hashed[0], hashed[1]


def ingest_batch(batch: Extract, source_index: int, contract: Contract, key: bytes) -> pd.DataFrame:
    """One batch of an extract, as text, into typed rows with the technical columns (see the module docstring)."""
    raw = batch.frame.reindex(columns=[*kept_columns(contract), RECORD_ID], fill_value="")
    table, errors = normalise(raw, contract, key)
    table = table.reset_index(drop=True)
    faults = pd.DataFrame(batch.row_faults, columns=ERROR_COLUMNS)
    table[RECORD_ORDER] = (source_index << SOURCE_SHIFT) + batch.first_row + np.arange(len(table), dtype=np.int64)
    table[MALFORMED] = table[RECORD_ID].isin(faults[RECORD_ID]).to_numpy()
    table[list(EXACT_DIGEST)] = np.column_stack(keyed_digest(raw[kept_columns(contract)], key, "exact")) \
        if len(table) else np.zeros((0, 2), np.int64)
    compared = [c for c in canonical_columns(contract) if c != LABEL_COLUMN]
    table[list(NEAR_DIGEST)] = np.column_stack(keyed_digest(table[compared], key, "near")) \
        if len(table) else np.zeros((0, 2), np.int64)
    reasons = quarantine_reasons(table[[RECORD_ID, *canonical_columns(contract)]],
                                 pd.concat([faults, errors], ignore_index=True), contract, unique_visits=False)
    table[REASONS] = pd.Series(reasons, dtype=object).reindex(range(len(table))).to_numpy()
    return table[[*canonical_columns(contract), *TECHNICAL]]


def to_arrow(rows: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The kernel's rows as Arrow under the fixed schema (a category column that is empty in one batch stays text)."""
    columns = {}
    for field in schema:
        values = rows[field.name]
        if pa.types.is_string(field.type):
            values = values.astype(object).where(values.notna(), None)
        columns[field.name] = pa.array(values, type=field.type, from_pandas=True)
    return pa.table(columns, schema=schema)

