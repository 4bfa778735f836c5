"""From a clean visit table to the model's numeric input matrix (the ONNX input, in schema order)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage import schema


def feature_matrix(frame: pd.DataFrame) -> np.ndarray:
    """float32 matrix [N, len(MODEL_FEATURES)]: sex encoded (U = missing), missing values as NaN."""
    columns = []
    for name in schema.MODEL_FEATURES:
        if name == "sex":
            columns.append(np.asarray(schema.encode_sex(frame["sex"].astype(str)), dtype=np.float64))
        else:
            columns.append(frame[name].to_numpy(dtype=np.float64, na_value=np.nan))
    return np.column_stack(columns).astype(np.float32)


def class_targets(frame: pd.DataFrame) -> np.ndarray:
    return frame[schema.LABEL_COLUMN].map(schema.CLASSES.index).to_numpy(dtype=np.int64)
