"""From a clean visit table to the model's numeric input matrix (the ONNX input, in contract order), and back to
the JSON records a client would send."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from triage.contract import CategoryFeature, Contract, NumericFeature
from triage.data.columns import LABEL_COLUMN


def feature_matrix(frame: pd.DataFrame, contract: Contract) -> np.ndarray:
    """float32 [N, n_features]: categories encoded as the contract says (a `missing` category as NaN), missing
    values as NaN."""
    columns = []
    for name, feature in contract.features.items():
        if isinstance(feature, CategoryFeature):
            encoded = frame[name].astype(object).map(feature.encoding())  # unknown codes and `missing` -> NaN
            columns.append(pd.to_numeric(encoded, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            columns.append(frame[name].to_numpy(dtype=np.float64, na_value=np.nan))
    return np.column_stack(columns).astype(np.float32) if columns else np.zeros((len(frame), 0), np.float32)


def class_targets(frame: pd.DataFrame, classes: tuple[str, ...]) -> np.ndarray:
    """Class indices in the model's output order; a label outside `classes` is an error, not a silent -1."""
    index = frame[LABEL_COLUMN].map({name: k for k, name in enumerate(classes)})
    if index.isna().any():
        unknown = sorted(frame.loc[index.isna(), LABEL_COLUMN].astype(str).unique())
        raise ValueError(f"labels {unknown} are not among the model's classes {list(classes)}")
    return index.to_numpy(dtype=np.int64)


def request_records(frame: pd.DataFrame, contract: Contract) -> list[dict]:
    """Visits as prediction requests: the contract's features with JSON types, missing values left out."""
    kinds = {name: _json_kind(feature) for name, feature in contract.features.items()}
    records = []
    for row in frame[list(kinds)].to_dict(orient="records"):
        record = {}
        for name, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                continue
            record[name] = kinds[name](value)
        records.append(record)
    return records


def _json_kind(feature) -> type:
    if isinstance(feature, CategoryFeature):
        return str
    if isinstance(feature, NumericFeature) and feature.type == "float":
        return float
    return int
