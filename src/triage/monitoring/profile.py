"""The training reference profile: what the live traffic is compared with.

Built from the validation part (the unresampled distribution the model's thresholds were tuned on) and the exported
model's own outputs on it: per-feature distributions (quantile bins, a value sample for the KS test, category
counts, missing counts), the true class mix, the predicted class mix and specialist-review share under the manifest's
thresholds, the predicted-probability histograms, and the label-free performance estimate on the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage.data.columns import LABEL_COLUMN
from triage.monitoring.performance import estimated_performance
from triage_shared.classes import orphan_index
from triage_shared.decision import decide, needs_review
from triage_shared.manifest import class_codes, orphan_threshold

QUANTILE_BINS = 10
KS_SAMPLE = 2000  # values kept per numeric feature for the KS test (the profile lives in git)
PROBABILITY_EDGES = np.linspace(0.0, 1.0, 21)


def feature_kind(spec: dict) -> str:
    """numeric (int, float), binary or category: from the manifest's feature list."""
    return "numeric" if spec["type"] in ("int", "float") else spec["type"]


def numeric_profile(values: pd.Series, rng: np.random.Generator) -> dict:
    present = values.dropna().to_numpy(dtype=np.float64)
    edges = np.unique(np.quantile(present, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1])) if len(present) else []
    sample = rng.choice(present, size=min(KS_SAMPLE, len(present)), replace=False) if len(present) else present
    return {"kind": "numeric", "rows": len(values), "missing": int(values.isna().sum()),
            "edges": [float(e) for e in edges], "counts": bin_counts(present, np.asarray(edges)).tolist(),
            "mean": float(present.mean()) if len(present) else None, "sample": np.round(np.sort(sample), 2).tolist()}


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts over the bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)


def categorical_profile(values: pd.Series, spec: dict) -> dict:
    kind = feature_kind(spec)
    present = values.dropna()
    if kind == "binary":
        present = present.astype(int).astype(str)
        categories = ["0", "1"]
    else:
        present = present.astype(str)
        categories = list(spec["categories"])
    counts = present.value_counts()
    return {"kind": kind, "rows": len(values), "missing": int(values.isna().sum()), "categories": categories,
            "counts": [int(counts.get(c, 0)) for c in categories]}


def build_profile(frame: pd.DataFrame, probabilities: np.ndarray, manifest: dict, seed: int) -> dict:
    """`frame` holds the model features and the true class; `probabilities` the model's outputs on it."""
    rng = np.random.default_rng(seed)
    features = {}
    for spec in manifest["features"]:
        name = spec["name"]
        features[name] = numeric_profile(frame[name], rng) if feature_kind(spec) == "numeric" else \
            categorical_profile(frame[name], spec)
    thresholds = manifest["thresholds"]
    classes = class_codes(manifest)
    decided = decide(probabilities, orphan_threshold(manifest), orphan_index(classes))
    labels = frame[LABEL_COLUMN].map(classes.index).to_numpy()
    n_classes = len(classes)
    return {
        "model": {"name": manifest["name"], "sha256": manifest["onnx"]["sha256"]},
        "contract": {k: manifest["contract"][k] for k in ("name", "version", "sha256")},
        "rows": len(frame),
        "classes": classes,
        "thresholds": {"orphan": orphan_threshold(manifest), "review": float(thresholds["review"])},
        "features": features,
        "label_counts": np.bincount(labels, minlength=n_classes).tolist(),
        "predicted_counts": np.bincount(decided, minlength=n_classes).tolist(),
        "review_count": int(needs_review(probabilities, thresholds["review"]).sum()),
        "probability_edges": PROBABILITY_EDGES.tolist(),
        "probability_counts": {c: np.histogram(probabilities[:, k], PROBABILITY_EDGES)[0].tolist()
                               for k, c in enumerate(classes)},
        "estimated_performance": estimated_performance(probabilities, decided, classes),
    }
