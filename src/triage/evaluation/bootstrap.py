"""Percentile bootstrap intervals in O(n) per round, every statistic on the same resamples.

A resample of n test rows (drawn with replacement) is the weight it gives each row: how often the row was drawn.
Each statistic is prepared once from the rows (a confusion code, scores sorted with their ties grouped) and then
evaluated on a weight vector with `np.bincount` and cumulative sums, never by copying or re-sorting the rows. At
2 million test rows this is what makes 400 rounds take seconds rather than the twenty minutes that re-running
scikit-learn on each resample took (benchmarks/pipeline.py at 10M visits). Ties count as scikit-learn counts them
(a group of equal scores is one threshold; half a pair in the AUC), so each value equals scikit-learn's on the
materialised resample (tests/code/test_bootstrap.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

Statistic = Callable[[np.ndarray], float]


def resample_weights(n: int, rounds: int, seed: int) -> Iterator[np.ndarray]:
    """The weight each row gets in each resample (the draws of `rng.integers(0, n, n)`, counted)."""
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        yield np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)


def bootstrap_intervals(n: int, statistics: dict[str, Statistic], rounds: int, seed: int,
                        level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile intervals of each statistic over the same resamples; rounds where a statistic is undefined (nan)
    are left out of its interval, and a statistic never defined gets (nan, nan)."""
    values: dict[str, list[float]] = {name: [] for name in statistics}
    for weights in resample_weights(n, rounds, seed):
        for name, statistic in statistics.items():
            value = statistic(weights)
            if np.isfinite(value):
                values[name].append(value)
    tail = (1 - level) / 2 * 100
    return {name: (float("nan"), float("nan")) if not found
            else tuple(float(v) for v in np.percentile(found, [tail, 100 - tail]))
            for name, found in values.items()}


def macro_f1_statistic(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> Statistic:
    """Macro-F1 over `n_classes` labels of fixed per-row predictions (a class without cases or flags scores 0, as
    scikit-learn's zero_division=0)."""
    codes = y.astype(np.int64) * n_classes + predicted.astype(np.int64)

    def statistic(weights: np.ndarray) -> float:
        confusion = np.bincount(codes, weights, n_classes * n_classes).reshape(n_classes, n_classes)
        hits = np.diag(confusion)
        denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
        f1 = np.divide(2 * hits, denominator, out=np.zeros(n_classes), where=denominator > 0)
        return float(f1.mean())
    return statistic


class RankedScores:
    """One class's scores sorted once (ascending), equal scores grouped: a resample's positives and negatives per
    group are two bincounts."""

    def __init__(self, positive: np.ndarray, scores: np.ndarray) -> None:
        self.order = np.argsort(scores, kind="stable")
        ranked = scores[self.order]
        self.groups = np.concatenate([[0], np.cumsum(ranked[1:] != ranked[:-1])]).astype(np.int64)
        self.n_groups = int(self.groups[-1]) + 1 if len(ranked) else 0
        self.positive = positive[self.order]

    def counts(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        drawn = weights[self.order]
        return (np.bincount(self.groups, drawn * self.positive, self.n_groups),
                np.bincount(self.groups, drawn * ~self.positive, self.n_groups))


def roc_auc(ranked: RankedScores, weights: np.ndarray) -> float:
    """Mann-Whitney AUC of one class against the rest (ties count half); nan without both."""
    positives, negatives = ranked.counts(weights)
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive == 0 or total_negative == 0:
        return float("nan")
    below = np.cumsum(negatives) - negatives
    return float((positives * (below + 0.5 * negatives)).sum() / (total_positive * total_negative))


def macro_roc_auc_statistic(y: np.ndarray, probabilities: np.ndarray) -> Statistic:
    """One-vs-rest macro ROC-AUC over the classes present in the resample (at least two)."""
    ranked = [RankedScores(y == k, probabilities[:, k]) for k in np.unique(y)]

    def statistic(weights: np.ndarray) -> float:
        aucs = [auc for auc in (roc_auc(r, weights) for r in ranked) if np.isfinite(auc)]
        return float(np.mean(aucs)) if len(aucs) >= 2 else float("nan")
    return statistic


def precision_recall_points(ranked: RankedScores, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Precision and recall at each threshold, from the highest score down (thresholds nobody in the resample
    reaches are left out); None without a positive in the resample."""
    positives, negatives = ranked.counts(weights)
    caught, flagged = np.cumsum(positives[::-1]), np.cumsum((positives + negatives)[::-1])
    if caught[-1] == 0:
        return None
    reached = flagged > 0
    return caught[reached] / flagged[reached], caught[reached] / caught[-1]


def curve_statistic(positive: np.ndarray, scores: np.ndarray,
                    reduce: Callable[[np.ndarray, np.ndarray], float]) -> Statistic:
    """A statistic of the precision-recall points (`reduce(precision, recall)`); nan without a positive."""
    ranked = RankedScores(positive, scores)

    def statistic(weights: np.ndarray) -> float:
        points = precision_recall_points(ranked, weights)
        return float("nan") if points is None else float(reduce(*points))
    return statistic


def average_precision_statistic(positive: np.ndarray, scores: np.ndarray) -> Statistic:
    """scikit-learn's average precision: the precision at each threshold weighted by the recall it adds."""
    return curve_statistic(positive, scores,
                           lambda precision, recall: (np.diff(recall, prepend=0.0) * precision).sum())


def precision_at_recall_statistic(positive: np.ndarray, scores: np.ndarray, recall_floor: float) -> Statistic:
    """The best precision at a recall of at least `recall_floor` (as metrics.precision_at_recall)."""
    return curve_statistic(positive, scores, lambda precision, recall: precision[recall >= recall_floor].max())
