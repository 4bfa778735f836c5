"""From a clean visit table to the model's numeric input matrix (the ONNX input, in contract order) and its class
targets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage.contract import CategoryFeature, Contract
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
