"""The product's decision rule, one definition for evaluation, monitoring and serving.

Orphan when P(orphan) reaches its tuned threshold, else the most probable of the other classes; a model whose data
has no orphan class takes the most probable class. Specialist review when the top probability is below the review
threshold.
"""

from __future__ import annotations

import numpy as np


def decide(probabilities: np.ndarray, orphan_threshold: float | None, orphan: int | None) -> np.ndarray:
    """Class index per row of `probabilities` [N, n_classes]."""
    if orphan is None:
        return probabilities.argmax(axis=1)
    others = probabilities.copy()
    others[:, orphan] = -np.inf
    return np.where(probabilities[:, orphan] >= orphan_threshold, orphan, others.argmax(axis=1))


def needs_review(probabilities: np.ndarray, review_threshold: float) -> np.ndarray:
    """True per row when the top probability is below the review threshold ("Revisión por especialista")."""
    return probabilities.max(axis=1) < review_threshold
