"""Rebalancing of the training part only (none | class_weights | random_over | smote_nc), and the class-aware
sample that keeps training on one node when the training part is larger than `train.max_rows`.

The output always carries a `sample_weight` column, so training has one interface whatever the method.

The sample keeps every case of the rare classes and subsamples the common ones down to one common cap (water
filling), each kept row carrying its inverse inclusion probability (`inclusion_weight`, n_class / kept_class). Class
weights are then computed on the weighted counts, so a sampled training part is weighted as the whole one would be:
the model sees the population's class balance, and the rare classes lose nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from triage.contract import Contract
from triage.data.checks import TrainingDataError
from triage.data.columns import LABEL_COLUMN
from triage.data.parts import dataset

METHODS = ("none", "class_weights", "random_over", "smote_nc")
INCLUSION_WEIGHT = "inclusion_weight"
READ_BATCH_ROWS = 100_000


def class_quotas(counts: pd.Series, max_rows: int) -> dict[str, int]:
    """Rows kept per class: every class under a common cap whole, the others at the cap, the total `max_rows`."""
    remaining, quotas = max_rows, {}
    ordered = counts.sort_values(kind="stable")
    for position, (label, count) in enumerate(ordered.items()):
        cap = remaining // (len(ordered) - position)
        quotas[str(label)] = int(min(count, cap))
        remaining -= quotas[str(label)]
    return quotas


def class_aware_positions(labels: pd.Series, max_rows: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the rows to keep (in order) and each one's inclusion weight; all rows, weight 1, when there
    are at most `max_rows`."""
    if not max_rows or len(labels) <= max_rows:
        return np.arange(len(labels)), np.ones(len(labels))
    labels = labels.astype(str).to_numpy()
    quotas = class_quotas(pd.Series(labels).value_counts(), int(max_rows))
    rng = np.random.default_rng(seed)
    kept, weights = [], np.ones(len(labels))
    for label in sorted(quotas):
        rows = np.flatnonzero(labels == label)
        chosen = np.sort(rng.choice(rows, quotas[label], replace=False)) if quotas[label] < len(rows) else rows
        weights[chosen] = len(rows) / max(len(chosen), 1)
        kept.append(chosen)
    order = np.sort(np.concatenate(kept))
    return order, weights[order]


def class_aware_sample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """The rows of `frame` to train on when it has more than `max_rows` (else all), with `inclusion_weight`."""
    positions, weights = class_aware_positions(frame[LABEL_COLUMN], max_rows, seed)
    return frame.iloc[positions].assign(**{INCLUSION_WEIGHT: weights}).reset_index(drop=True)


def read_class_aware_sample(paths: list[Path], max_rows: int | None, seed: int,
                            columns: list[str] | None = None) -> pd.DataFrame:
    """`class_aware_sample` of the rows of Parquet outputs (files or folders, one after the other), read in bounded
    batches: the labels first, then only the chosen rows, so memory follows `max_rows`, not the part's size."""
    datasets = [dataset(path) for path in paths]
    labels = pd.concat([data.to_table(columns=[LABEL_COLUMN]).to_pandas()[LABEL_COLUMN] for data in datasets],
                       ignore_index=True)
    positions, weights = class_aware_positions(labels, max_rows, seed)
    chosen, start = [], 0
    for data in datasets:
        for batch in data.to_batches(columns=columns, batch_size=READ_BATCH_ROWS, use_threads=False):
            wanted = positions[(positions >= start) & (positions < start + batch.num_rows)] - start
            if len(wanted):
                chosen.append(batch.take(pa.array(wanted)))
            start += batch.num_rows
    frame = pa.Table.from_batches(chosen).to_pandas() if chosen else pd.DataFrame(columns=columns)
    return frame.assign(**{INCLUSION_WEIGHT: weights}).reset_index(drop=True)


def oversampling_targets(labels: pd.Series, target_ratio: float) -> dict[str, int]:
    counts = labels.value_counts()
    floor = int(counts.max() * target_ratio)
    return {label: max(int(count), floor) for label, count in counts.items()}


def class_weights(labels: pd.Series, power: float, inclusion: pd.Series | None = None) -> pd.Series:
    """(n_max / n_class) ** power, the counts weighted by `inclusion` (a class-aware sample's) when given."""
    counts = labels.value_counts() if inclusion is None else inclusion.groupby(labels.to_numpy()).sum()
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
    """`train` may be a class-aware sample (an `inclusion_weight` column): its weights carry into sample_weight."""
    method = settings["method"]
    frame = train[[*contract.feature_names, LABEL_COLUMN]].copy()
    inclusion = train.get(INCLUSION_WEIGHT)
    if method == "none":
        return frame.assign(sample_weight=1.0 if inclusion is None else inclusion.to_numpy())
    if method == "class_weights":
        weights = class_weights(frame[LABEL_COLUMN], power, inclusion).to_numpy()
        return frame.assign(sample_weight=weights if inclusion is None else weights * inclusion.to_numpy())
    if inclusion is not None and (inclusion != 1.0).any():
        raise TrainingDataError(f"resample.method {method!r} cannot weight a class-aware sample (train.max_rows): "
                                "use none or class_weights, or raise train.max_rows above the training rows")
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
