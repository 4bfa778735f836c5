"""Curve statistics from score histograms: what evaluation keeps of millions of scores.

A class's scores are counted into fixed bins, positives and negatives apart, so a part of any size is summarised in
a few hundred kilobytes and batches add up. The bins are uniform in the logit of the score, over
[-LOGIT_LIMIT, LOGIT_LIMIT]: fine where a rare class's scores crowd (near 0 and 1), about 0.0001 wide around 0.5,
and the scores beyond the limits share the end bins. Their floors are computed without numpy's exp (`bin_floors`),
so a score falls in the same bin on every CPU. Every statistic treats the scores in one bin as tied, as
scikit-learn treats equal scores (one threshold per group; half a pair in the AUC), so on scores that never share a
bin it equals scikit-learn's exactly (tests/code/test_curves.py).

Counts are arrays in ascending score order: `positives[b]` and `negatives[b]` the (possibly weighted) counts in bin b.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import numpy as np

from triage.simulation import portable

SCORE_BINS = 1 << 16
LOGIT_LIMIT = 16


@cache
def bin_floors() -> np.ndarray:
    """The lowest score of each bin: 0, then sigmoid(-LOGIT_LIMIT + b * width) for b = 1 ... SCORE_BINS - 1.

    Computed once with the decimal module (`triage.simulation.portable`), not numpy's exp: numpy's transcendental
    functions round differently on different CPUs (AVX-512, AVX2), and a score one ulp from a floor would land in
    another bin on another machine. Binning is then `searchsorted`, comparisons only: the same bins on every CPU."""
    width = Fraction(2 * LOGIT_LIMIT, SCORE_BINS)
    logits = np.array([float(-LOGIT_LIMIT + b * width) for b in range(1, SCORE_BINS)])  # exact: width is 2**-11
    floors = 1.0 / (1.0 + portable.exp(-logits))
    return np.concatenate([[0.0], floors])


def score_bins(scores: np.ndarray, bins: int = SCORE_BINS) -> np.ndarray:
    """The bin of each score in [0, 1] (a coarser `bins`, a power of two dividing SCORE_BINS, nests in the fine)."""
    fine = np.searchsorted(bin_floors(), np.clip(scores, 0.0, 1.0), side="right") - 1
    return fine // (SCORE_BINS // bins)


def bin_floor(index: int) -> float:
    """The lowest score in fine bin `index` (0 for the first bin): flagging scores >= it flags the whole bin."""
    return float(bin_floors()[index])


def coarsen(counts: np.ndarray, bins: int) -> np.ndarray:
    """Counts over SCORE_BINS fine bins (last axis) summed into `bins` coarse ones."""
    return counts.reshape(*counts.shape[:-1], bins, counts.shape[-1] // bins).sum(axis=-1)


def roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half); nan without both positives and negatives."""
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive == 0 or total_negative == 0:
        return float("nan")
    below = np.cumsum(negatives) - negatives
    return float((positives * (below + 0.5 * negatives)).sum() / (total_positive * total_negative))


def precision_recall(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Precision and recall at each threshold from the highest score down (bins nobody reaches left out); None
    without a positive."""
    caught, flagged = np.cumsum(positives[::-1]), np.cumsum((positives + negatives)[::-1])
    if len(caught) == 0 or caught[-1] == 0:
        return None
    reached = flagged > 0
    return caught[reached] / flagged[reached], caught[reached] / caught[-1]


def average_precision(positives: np.ndarray, negatives: np.ndarray) -> float:
    """scikit-learn's average precision: the precision at each threshold weighted by the recall it adds."""
    points = precision_recall(positives, negatives)
    if points is None:
        return float("nan")
    precision, recall = points
    return float((np.diff(recall, prepend=0.0) * precision).sum())


def precision_at_recall(positives: np.ndarray, negatives: np.ndarray, recall_floor: float) -> float:
    """The best precision at a recall of at least `recall_floor`; nan without a positive."""
    points = precision_recall(positives, negatives)
    if points is None:
        return float("nan")
    precision, recall = points
    return float(precision[recall >= recall_floor].max())


def recall_at_precision(positives: np.ndarray, negatives: np.ndarray, precision_floor: float) -> float:
    """The best recall at a precision of at least `precision_floor` (0 where none reaches it)."""
    points = precision_recall(positives, negatives)
    if points is None:
        return 0.0
    precision, recall = points
    feasible = precision >= precision_floor
    return float(recall[feasible].max()) if feasible.any() else 0.0


def interpolated_precision(positives: np.ndarray, negatives: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The best precision at each recall of `grid` or more (1 at recall 0, scikit-learn's end point of the curve);
    nan without a positive."""
    points = precision_recall(positives, negatives)
    if points is None:
        return np.full(len(grid), np.nan)
    precision, recall = points
    return np.array([1.0 if r <= 0 else precision[recall >= r].max() for r in grid])


def threshold_for_recall(positives: np.ndarray, needed: int) -> float:
    """The highest bin floor that flags at least `needed` of the positives counted over the fine bins."""
    caught = np.cumsum(positives[::-1])
    top = int(np.searchsorted(caught, needed))  # bins from the top until `needed` are caught
    return bin_floor(len(positives) - 1 - min(top, len(positives) - 1))
