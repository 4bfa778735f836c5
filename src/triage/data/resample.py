"""Rebalancing of the training part only (none | class_weights | random_over | smote_nc).

The output always carries a `sample_weight` column, so training has one interface whatever the method.
"""

from __future__ import annotations

import pandas as pd

from triage.contract import Contract
from triage.data.columns import LABEL_COLUMN

METHODS = ("none", "class_weights", "random_over", "smote_nc")


def oversampling_targets(labels: pd.Series, target_ratio: float) -> dict[str, int]:
    counts = labels.value_counts()
    floor = int(counts.max() * target_ratio)
    return {label: max(int(count), floor) for label, count in counts.items()}


def class_weights(labels: pd.Series, power: float) -> pd.Series:
    counts = labels.value_counts()
    return labels.map((counts.max() / counts) ** power).astype(float)


def smote_nc(frame: pd.DataFrame, contract: Contract, targets: dict[str, int], seed: int) -> pd.DataFrame:
    """SMOTE-NC needs complete rows: missing values are filled from the training part first (numbers: median,
    binary: absent, categories: the most frequent)."""
    from imblearn.over_sampling import SMOTENC

    features = frame[list(contract.feature_names)].copy()
    numeric, binary, category = list(contract.numeric_names), list(contract.binary_names), \
        list(contract.category_names)
    features[numeric] = features[numeric].fillna(features[numeric].median())
    features[binary] = features[binary].fillna(0.0)
    for name in category:
        features[name] = features[name].fillna(features[name].mode().iloc[0]).astype(str)
    categorical = [*category, *binary]
    sampler = SMOTENC(categorical_features=[features.columns.get_loc(c) for c in categorical],
                      sampling_strategy=targets, random_state=seed, k_neighbors=5)
    x, y = sampler.fit_resample(features, frame[LABEL_COLUMN])
    for name in numeric:
        if contract.features[name].type == "int":
            x[name] = x[name].round()
    return x.assign(**{LABEL_COLUMN: y.to_numpy()})


def resample(train: pd.DataFrame, contract: Contract, settings: dict, power: float, seed: int) -> pd.DataFrame:
    method = settings["method"]
    frame = train[[*contract.feature_names, LABEL_COLUMN]].copy()
    if method == "none":
        return frame.assign(sample_weight=1.0)
    if method == "class_weights":
        return frame.assign(sample_weight=class_weights(frame[LABEL_COLUMN], power).to_numpy())
    targets = oversampling_targets(frame[LABEL_COLUMN], settings["target_ratio"])
    if method == "random_over":
        from imblearn.over_sampling import RandomOverSampler

        sampler = RandomOverSampler(sampling_strategy=targets, random_state=seed)
        x, y = sampler.fit_resample(frame[list(contract.feature_names)], frame[LABEL_COLUMN])
        return x.assign(**{LABEL_COLUMN: y.to_numpy(), "sample_weight": 1.0})
    if method == "smote_nc":
        return smote_nc(frame, contract, targets, seed).assign(sample_weight=1.0)
    raise ValueError(f"resample.method must be one of {', '.join(METHODS)}, got {method!r}")


def resample_report(train: pd.DataFrame, out: pd.DataFrame, method: str, classes: tuple[str, ...]) -> dict:
    """Class counts before, rows and weighted counts after (reports/resample.json)."""
    before = train[LABEL_COLUMN].value_counts()
    after = out.groupby(LABEL_COLUMN)["sample_weight"].agg(["size", "sum"])
    return {"method": method, "before": {c: int(before.get(c, 0)) for c in classes},
            "after_rows": {c: int(after["size"].get(c, 0)) for c in classes},
            "after_weighted": {c: round(float(after["sum"].get(c, 0)), 1) for c in classes}}
