"""Stage `resample`: rebalance the training part only (none | class_weights | random_over | smote_nc).

The output always carries a `sample_weight` column, so train has one interface whatever the method. Class counts
before and after are written to reports/resample.json.
"""

from __future__ import annotations

import pandas as pd

from triage import config, schema
from triage.tables import write_json, write_parquet

METHODS = ("none", "class_weights", "random_over", "smote_nc")
KEEP = [*schema.MODEL_FEATURES, schema.LABEL_COLUMN]
log = config.stage_logger("resample")


def oversampling_targets(labels: pd.Series, target_ratio: float) -> dict[str, int]:
    counts = labels.value_counts()
    floor = int(counts.max() * target_ratio)
    return {label: max(int(count), floor) for label, count in counts.items()}


def class_weights(labels: pd.Series, power: float) -> pd.Series:
    counts = labels.value_counts()
    return labels.map((counts.max() / counts) ** power).astype(float)


def smote_nc(frame: pd.DataFrame, targets: dict[str, int], seed: int) -> pd.DataFrame:
    """SMOTE-NC needs complete rows: missing values are filled from the training part first."""
    from imblearn.over_sampling import SMOTENC

    features = frame[list(schema.MODEL_FEATURES)].copy()
    numeric = [f.name for f in schema.NUMERIC_FIELDS]
    features[numeric] = features[numeric].fillna(features[numeric].median())
    features[list(schema.SYMPTOM_COLUMNS)] = features[list(schema.SYMPTOM_COLUMNS)].fillna(0.0)
    features["sex"] = features["sex"].astype(str)
    categorical = ["sex", *schema.SYMPTOM_COLUMNS]
    sampler = SMOTENC(categorical_features=[features.columns.get_loc(c) for c in categorical],
                      sampling_strategy=targets, random_state=seed, k_neighbors=5)
    x, y = sampler.fit_resample(features, frame[schema.LABEL_COLUMN])
    for column in [f.name for f in schema.NUMERIC_FIELDS if f.dtype == "int"]:
        x[column] = x[column].round()
    return x.assign(**{schema.LABEL_COLUMN: y.to_numpy()})


def resample(train: pd.DataFrame, settings: dict, power: float, seed: int) -> pd.DataFrame:
    method = settings["method"]
    frame = train[KEEP].copy()
    if method == "none":
        return frame.assign(sample_weight=1.0)
    if method == "class_weights":
        return frame.assign(sample_weight=class_weights(frame[schema.LABEL_COLUMN], power).to_numpy())
    targets = oversampling_targets(frame[schema.LABEL_COLUMN], settings["target_ratio"])
    if method == "random_over":
        from imblearn.over_sampling import RandomOverSampler

        sampler = RandomOverSampler(sampling_strategy=targets, random_state=seed)
        x, y = sampler.fit_resample(frame[list(schema.MODEL_FEATURES)], frame[schema.LABEL_COLUMN])
        return x.assign(**{schema.LABEL_COLUMN: y.to_numpy(), "sample_weight": 1.0})
    if method == "smote_nc":
        return smote_nc(frame, targets, seed).assign(sample_weight=1.0)
    raise ValueError(f"resample.method must be one of {', '.join(METHODS)}, got {method!r}")


def main() -> None:
    params = config.load_params()
    train = pd.read_parquet(config.TRAIN)
    out = resample(train, params["resample"], params["train"]["class_weight_power"], params["base"]["seed"])
    write_parquet(out, config.TRAIN_RESAMPLED)
    before = train[schema.LABEL_COLUMN].value_counts()
    after = out.groupby(schema.LABEL_COLUMN)["sample_weight"].agg(["size", "sum"])
    report = {"method": params["resample"]["method"],
              "before": {c: int(before.get(c, 0)) for c in schema.CLASSES},
              "after_rows": {c: int(after["size"].get(c, 0)) for c in schema.CLASSES},
              "after_weighted": {c: round(float(after["sum"].get(c, 0)), 1) for c in schema.CLASSES}}
    write_json(report, config.REPORTS / "resample.json")
    log.info("%s: %s -> %s", report["method"], report["before"], report["after_weighted"])


if __name__ == "__main__":
    main()
