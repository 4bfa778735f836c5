"""Stage `resample`: rebalance the training part only (none | class_weights | random_over | smote_nc).

The output always carries a `sample_weight` column, so train has one interface whatever the method. Class counts
before and after are written to reports/resample.json.
"""

from __future__ import annotations

import pandas as pd

from triage import config
from triage.contract import Contract, contract_from_params
from triage.schema import LABEL_COLUMN
from triage.tables import write_json, write_parquet

METHODS = ("none", "class_weights", "random_over", "smote_nc")
log = config.stage_logger("resample")


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


def main() -> None:
    params = config.load_params()
    contract = contract_from_params(params)
    train = pd.read_parquet(config.TRAIN)
    out = resample(train, contract, params["resample"], params["train"]["class_weight_power"],
                   params["base"]["seed"])
    write_parquet(out, config.TRAIN_RESAMPLED)
    before = train[LABEL_COLUMN].value_counts()
    after = out.groupby(LABEL_COLUMN)["sample_weight"].agg(["size", "sum"])
    report = {"method": params["resample"]["method"],
              "before": {c: int(before.get(c, 0)) for c in contract.classes},
              "after_rows": {c: int(after["size"].get(c, 0)) for c in contract.classes},
              "after_weighted": {c: round(float(after["sum"].get(c, 0)), 1) for c in contract.classes}}
    write_json(report, config.REPORTS / "resample.json")
    log.info("%s: %s -> %s", report["method"], report["before"], report["after_weighted"])


if __name__ == "__main__":
    main()
