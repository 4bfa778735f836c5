"""The served orphan threshold: the highest cut on P(orphan) whose recall on the tuning rows reaches the target
(used by the threshold cross-fit in training and by the validation-tuned baselines in evaluation)."""

from __future__ import annotations

import numpy as np

NO_CASES_THRESHOLD = 0.5  # without a case to tune on


def tune_orphan_threshold(y: np.ndarray, probabilities: np.ndarray, recall_target: float, z: float,
                          orphan: int) -> float:
    """The highest threshold on P(orphan) whose recall on these (validation) rows reaches the target.

    With z > 0 the target is raised by z standard errors of the validation recall estimate, so that recall on
    new data reaches the target with probability about Phi(z) rather than a coin flip.
    """
    scores = np.sort(probabilities[y == orphan, orphan])[::-1]
    if len(scores) == 0:
        return NO_CASES_THRESHOLD
    return float(scores[max(needed_cases(len(scores), recall_target, z) - 1, 0)])


def needed_cases(cases: int, recall_target: float, z: float) -> int:
    """How many of `cases` the threshold must flag: the target raised by z standard errors of the recall estimate."""
    margin = z * np.sqrt(recall_target * (1 - recall_target) / cases)
    return int(np.ceil(min(recall_target + margin, 1.0) * cases))
