"""The training reference profile: what the live traffic is compared with.

Built from the validation part (the unresampled distribution the model's thresholds were tuned on) and the exported
model's own outputs on it: per-feature distributions (quantile bins, a value sample for the KS test, category
counts, missing counts), the true class mix, the predicted class mix and specialist-review share under the manifest's
thresholds, the predicted-probability histograms, and the label-free performance estimate on the same rows.

Everything is counted batch by batch, so memory does not follow the part's size: the quantile edges come from a
uniform sample of up to QUANTILE_SAMPLE values per feature (every value below that: exact quantiles at the default
cohort), the KS sample is that sample's first KS_SAMPLE, and the bin counts are exact (a second pass).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage.data.columns import LABEL_COLUMN
from triage.monitoring.performance import expected_confusion, performance_of_expected
from triage_shared.classes import orphan_index
from triage_shared.decision import decide, needs_review
from triage_shared.manifest import class_codes, orphan_threshold

QUANTILE_BINS = 10
KS_SAMPLE = 2000  # values kept per numeric feature for the KS test (the profile lives in git)
QUANTILE_SAMPLE = 100_000  # values per numeric feature the quantile edges are taken from (all of them, up to this)
PROBABILITY_EDGES = np.linspace(0.0, 1.0, 21)


def feature_kind(spec: dict) -> str:
    """numeric (int, float), binary or category: from the manifest's feature list."""
    return "numeric" if spec["type"] in ("int", "float") else spec["type"]


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts over the bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)


class UniformSample:
    """A uniform sample without replacement of at most `size` values from a stream of batches (bottom-k: each value
    gets a random key, the `size` smallest keys are kept), so its first k by key are a uniform sample of k too."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng = size, rng
        self.values, self.keys = np.empty(0), np.empty(0)

    def add(self, values: np.ndarray) -> None:
        self.values = np.concatenate([self.values, values])
        self.keys = np.concatenate([self.keys, self.rng.random(len(values))])
        if len(self.keys) > self.size:
            kept = np.argpartition(self.keys, self.size)[:self.size]
            self.values, self.keys = self.values[kept], self.keys[kept]

    def first(self, k: int) -> np.ndarray:
        return self.values[np.argsort(self.keys, kind="stable")[:k]]


class NumericCounts:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rows = self.missing = 0
        self.total = 0.0
        self.sample = UniformSample(QUANTILE_SAMPLE, rng)

    def add(self, values: pd.Series) -> None:
        present = values.dropna().to_numpy(dtype=np.float64)
        self.rows, self.missing = self.rows + len(values), self.missing + len(values) - len(present)
        self.total += float(present.sum())
        self.sample.add(present)

    def edges(self) -> np.ndarray:
        values = self.sample.values
        return np.unique(np.quantile(values, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1])) if len(values) else \
            np.empty(0)

    def profile(self, counts: np.ndarray) -> dict:
        present = self.rows - self.missing
        return {"kind": "numeric", "rows": self.rows, "missing": self.missing,
                "edges": [float(e) for e in self.edges()], "counts": counts.tolist(),
                "mean": self.total / present if present else None,
                "sample": np.round(np.sort(self.sample.first(KS_SAMPLE)), 2).tolist()}


def category_counts(values: pd.Series, spec: dict) -> np.ndarray:
    """[missing, count of each category] of a binary or categorical feature."""
    present = values.dropna()
    present = present.astype(int).astype(str) if feature_kind(spec) == "binary" else present.astype(str)
    counts = present.value_counts()
    return np.array([len(values) - len(present), *(int(counts.get(c, 0)) for c in categories(spec))])


def categories(spec: dict) -> list[str]:
    return ["0", "1"] if feature_kind(spec) == "binary" else list(spec["categories"])


class ProfileCounts:
    """The reference profile's counts, batch by batch: per-feature values, true and decided classes, review count,
    probability histograms and the expected confusion table."""

    def __init__(self, manifest: dict, seed: int) -> None:
        self.manifest, self.classes = manifest, class_codes(manifest)
        rng = np.random.default_rng(seed)
        self.numeric = {spec["name"]: NumericCounts(rng) for spec in manifest["features"]
                        if feature_kind(spec) == "numeric"}
        self.categorical = {spec["name"]: np.zeros(len(categories(spec)) + 1, np.int64)
                            for spec in manifest["features"] if feature_kind(spec) != "numeric"}
        k = len(self.classes)
        self.labels, self.predicted, self.review = np.zeros(k, np.int64), np.zeros(k, np.int64), 0
        self.probability_counts = np.zeros((k, len(PROBABILITY_EDGES) - 1), np.int64)
        self.expected = np.zeros((k, k))

    def add(self, frame: pd.DataFrame, probabilities: np.ndarray) -> None:
        specs = {spec["name"]: spec for spec in self.manifest["features"]}
        for name, counts in self.numeric.items():
            counts.add(frame[name])
        for name in self.categorical:
            self.categorical[name] += category_counts(frame[name], specs[name])
        k = len(self.classes)
        decided = decide(probabilities, orphan_threshold(self.manifest), orphan_index(self.classes))
        self.labels += np.bincount(frame[LABEL_COLUMN].map(self.classes.index).to_numpy(), minlength=k)
        self.predicted += np.bincount(decided, minlength=k)
        self.review += int(needs_review(probabilities, self.manifest["thresholds"]["review"]).sum())
        self.probability_counts += np.array([np.histogram(probabilities[:, c], PROBABILITY_EDGES)[0]
                                             for c in range(k)])
        self.expected += expected_confusion(probabilities, decided)


def build_profile(counts: ProfileCounts, numeric_bins: dict[str, np.ndarray]) -> dict:
    """The profile from the counts of the scoring pass and the numeric features' bin counts (a second pass over the
    part, with each feature's `NumericCounts.edges()`)."""
    manifest = counts.manifest
    features = {}
    for spec in manifest["features"]:
        name = spec["name"]
        if name in counts.numeric:
            features[name] = counts.numeric[name].profile(numeric_bins[name])
        else:
            missing, *found = counts.categorical[name].tolist()
            features[name] = {"kind": feature_kind(spec), "rows": missing + sum(found), "missing": missing,
                              "categories": categories(spec), "counts": found}
    return {
        "model": {"name": manifest["name"], "sha256": manifest["onnx"]["sha256"]},
        "contract": {k: manifest["contract"][k] for k in ("name", "version", "sha256")},
        "rows": int(counts.labels.sum()),
        "classes": counts.classes,
        "thresholds": {"orphan": orphan_threshold(manifest), "review": float(manifest["thresholds"]["review"])},
        "features": features,
        "label_counts": counts.labels.tolist(),
        "predicted_counts": counts.predicted.tolist(),
        "review_count": counts.review,
        "probability_edges": PROBABILITY_EDGES.tolist(),
        "probability_counts": {c: counts.probability_counts[k].tolist() for k, c in enumerate(counts.classes)},
        "estimated_performance": performance_of_expected(counts.expected, counts.classes),
    }
