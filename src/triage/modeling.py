"""Model builders: the CatBoost pipeline that is exported, and the baselines every report compares against."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from triage import schema

NUMERIC_POSITIONS = [schema.MODEL_FEATURES.index(f.name) for f in schema.NUMERIC_FIELDS]
SEX_POSITION = [schema.MODEL_FEATURES.index("sex")]
SYMPTOM_POSITIONS = [schema.MODEL_FEATURES.index(c) for c in schema.SYMPTOM_COLUMNS]
PREPROCESSED_FEATURES = [*(f.name for f in schema.NUMERIC_FIELDS), "sex", *schema.SYMPTOM_COLUMNS]


def preprocessing() -> ColumnTransformer:
    """Imputation inside the exported graph: medians for numbers, the most frequent sex, 'absent' for symptoms.

    Integer column positions, so the ONNX graph has one float input [N, n_features] in schema order.
    """
    return ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), NUMERIC_POSITIONS),
        ("sex", SimpleImputer(strategy="most_frequent"), SEX_POSITION),
        ("symptoms", SimpleImputer(strategy="constant", fill_value=0.0), SYMPTOM_POSITIONS),
    ], remainder="drop", verbose_feature_names_out=False)


def catboost_classifier(settings: dict[str, Any], seed: int, **overrides: Any) -> CatBoostClassifier:
    options = dict(iterations=settings["iterations"], depth=settings["depth"],
                   learning_rate=settings["learning_rate"], l2_leaf_reg=settings["l2_leaf_reg"],
                   loss_function="MultiClass", random_seed=seed, thread_count=settings["threads"],
                   allow_writing_files=False, verbose=settings.get("progress_every", False))
    options.update(overrides)
    return CatBoostClassifier(**options)


def triage_pipeline(settings: dict[str, Any], seed: int) -> Pipeline:
    return Pipeline([("preprocess", preprocessing()), ("model", catboost_classifier(settings, seed))])


def logistic_baseline(c: float, seed: int) -> Pipeline:
    return Pipeline([("preprocess", preprocessing()), ("scale", StandardScaler()),
                     ("model", LogisticRegression(C=c, class_weight="balanced", max_iter=500,
                                                  random_state=seed))])


def forest_baseline(trees: int, seed: int, threads: int) -> Pipeline:
    """A random forest on the original (not resampled, unweighted) training part."""
    return Pipeline([("preprocess", preprocessing()),
                     ("model", RandomForestClassifier(n_estimators=trees, min_samples_leaf=3, max_depth=18,
                                                      n_jobs=threads, random_state=seed))])


def rule_scores(frame: pd.DataFrame) -> np.ndarray:
    """The original prototype's fever / pain / days rule, reimplemented, as class scores (rows sum to one).

    score = fever (temperature >= 38 or reported) + pain (any pain symptom) + duration (days > 14, > 180); more
    than two red flags with a long duration points to an orphan disease. The rule has no probabilities: its
    scores are softened one-hot votes so that ranking metrics (ROC, PR) can be computed for it.
    """
    fever = (frame["temperature_c"].fillna(36.8) >= 38) | (frame["sx_fever"].fillna(0) == 1)
    pains = ["sx_headache", "sx_myalgia", "sx_arthralgia", "sx_back_pain", "sx_chest_pain", "sx_abdominal_pain",
             "sx_sore_throat", "sx_ear_pain"]
    pain = frame[pains].fillna(0).sum(axis=1) > 0
    days = frame["symptom_days"]
    red_flags = frame[list(schema.RED_FLAG_COLUMNS)].fillna(0).sum(axis=1)
    score = fever.astype(int) + pain.astype(int) + (days > 14).astype(int)
    klass = np.select([(red_flags >= 2) & (days > 30), days > 180, score >= 2, score == 1],
                      [4, 3, 2, 1], default=0)
    soft = 0.05 + 0.01 * np.clip(red_flags.to_numpy()[:, None], 0, 5) * (np.arange(5) == 4)
    scores = np.where(np.arange(5)[None, :] == klass[:, None], 0.8, soft)
    return scores / scores.sum(axis=1, keepdims=True)
