"""Percentile bootstrap intervals from batch aggregates (the Poisson bootstrap).

A bootstrap resample is the weight it gives each row. Drawing n rows with replacement gives multinomial weights,
which need the whole part at once; giving each row an independent Poisson(1) weight is the same resample in the
limit of large n (Hanley & MacGibbon 2006; Chamandy et al. 2012, "Estimating uncertainty for massive data streams")
and needs only the row itself. So each batch of the test part draws its rows' weights for every round (a random
stream of its own, from the seed and the batch's index) and adds them to per-round counts: the confusion tables
and each class's score histogram, at `BOOTSTRAP_BINS` bins (nested in the point estimates' bins). Memory is
rounds x cells, whatever the number of rows; each statistic is then read off each round's counts by the same
functions that give the point estimate (`tally`, `curves`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse

from triage.evaluation import curves
from triage.evaluation.tally import macro_f1, macro_roc_auc

BOOTSTRAP_BINS = 4096
WEIGHT_ROWS = 8192  # rows whose weights are drawn at once (rows x rounds float32: 13 MB at 400 rounds)


class RoundCounts:
    """One resample's counts: the confusion tables and the score histograms, shaped as a Tally's."""

    def __init__(self, cells: np.ndarray, n_classes: int) -> None:
        k = n_classes
        self.most_probable = cells[:k * k].reshape(k, k)
        self.decided = cells[k * k:2 * k * k].reshape(k, k)
        self.scores = cells[2 * k * k:].reshape(k, 2, BOOTSTRAP_BINS)


Statistic = Callable[[RoundCounts], float]


class PoissonBootstrap:
    def __init__(self, n_classes: int, rounds: int, seed: int) -> None:
        self.n_classes, self.rounds, self.seed = n_classes, rounds, seed
        self.cells = 2 * n_classes * n_classes + 2 * n_classes * BOOTSTRAP_BINS
        self.totals = np.zeros((self.cells, rounds))
        self.batches = 0

    def row_cells(self, y: np.ndarray, probabilities: np.ndarray, decided: np.ndarray) -> np.ndarray:
        """[row, cell] the cells each row counts in: its two confusion cells and one bin per class histogram."""
        k = self.n_classes
        columns = [y * k + probabilities.argmax(axis=1), k * k + y * k + decided]
        for c in range(k):
            histogram = 2 * k * k + (2 * c + (y == c)) * BOOTSTRAP_BINS
            columns.append(histogram + curves.score_bins(probabilities[:, c], BOOTSTRAP_BINS))
        return np.column_stack(columns)

    def add(self, y: np.ndarray, probabilities: np.ndarray, decided: np.ndarray) -> None:
        """One batch, in the part's order (its index seeds its weights: the same part gives the same intervals)."""
        rng = np.random.default_rng([self.seed, self.batches])
        self.batches += 1
        cells = self.row_cells(y, probabilities, decided)
        for start in range(0, len(y), WEIGHT_ROWS):
            chunk = cells[start:start + WEIGHT_ROWS]
            weights = rng.poisson(1.0, size=(len(chunk), self.rounds)).astype(np.float32)
            rows = np.repeat(np.arange(len(chunk)), chunk.shape[1])
            membership = sparse.csr_matrix((np.ones(chunk.size, np.float32), (chunk.ravel(), rows)),
                                           shape=(self.cells, len(chunk)))
            self.totals += membership @ weights  # float32 per chunk: exact (counts of one chunk < 2**24)

    def intervals(self, statistics: dict[str, Statistic], level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Percentile intervals of each statistic over the rounds; rounds where a statistic is undefined (nan) are
        left out of its interval, and a statistic never defined gets (nan, nan)."""
        values: dict[str, list[float]] = {name: [] for name in statistics}
        for r in range(self.rounds):
            counts = RoundCounts(self.totals[:, r], self.n_classes)
            for name, statistic in statistics.items():
                value = statistic(counts)
                if np.isfinite(value):
                    values[name].append(value)
        tail = (1 - level) / 2 * 100
        return {name: (float("nan"), float("nan")) if not found
                else tuple(float(v) for v in np.percentile(found, [tail, 100 - tail]))
                for name, found in values.items()}


def model_statistics(orphan: int | None, recall_target: float) -> dict[str, Statistic]:
    """The model's bootstrapped statistics: macro-F1 (most probable class and served decision), macro ROC-AUC, and
    the orphan class's PR-AUC and precision at the recall target."""
    statistics: dict[str, Statistic] = {
        "macro_f1_ci": lambda c: macro_f1(c.most_probable),
        "macro_f1_decision_ci": lambda c: macro_f1(c.decided),
        "roc_auc_ovr_macro_ci": lambda c: macro_roc_auc(c.scores)}
    if orphan is not None:
        statistics["orphan_pr_auc_ci"] = lambda c: curves.average_precision(c.scores[orphan, 1], c.scores[orphan, 0])
        statistics["orphan_precision_at_recall_target_ci"] = lambda c: curves.precision_at_recall(
            c.scores[orphan, 1], c.scores[orphan, 0], recall_target)
    return statistics
