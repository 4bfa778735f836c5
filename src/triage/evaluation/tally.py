"""What evaluation keeps of one method's scores on one part: counts that add up batch by batch.

A `Tally` holds the class counts, the confusion tables of the most probable class and of the served decision, each
class's score histogram (positives and negatives apart, `curves.SCORE_BINS` bins), the calibration bins and the sums
behind the Brier score. Its size depends on the number of classes, never on the number of rows, so a test part of
any size is scored in batches (`evaluate`) in bounded memory, and every headline metric is read off the counts:
exactly for the counts (recall, precision, F1, shares, calibration), at the bins' resolution for the curves
(ROC-AUC, PR-AUC, precision at a recall).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triage.evaluation import curves
from triage_shared.decision import needs_review

ECE_BINS = 15
CALIBRATION_BINS = 10


def confidence_bin(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins of the top probability, [k/bins, (k+1)/bins), the last one closed."""
    edges = np.linspace(0, 1, bins + 1)
    return np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)


def confusion_counts(actual: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(actual * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def score_histograms(y: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """[class, negative | positive, bin] counts of each class's scores."""
    n_classes = probabilities.shape[1]
    out = np.empty((n_classes, 2, curves.SCORE_BINS), dtype=np.int64)
    for k in range(n_classes):
        cells = (y == k).astype(np.int64) * curves.SCORE_BINS + curves.score_bins(probabilities[:, k])
        out[k] = np.bincount(cells, minlength=2 * curves.SCORE_BINS).reshape(2, curves.SCORE_BINS)
    return out


def calibration_sums(y: np.ndarray, probabilities: np.ndarray, bins: int) -> np.ndarray:
    """[bin] -> (rows, correct top labels, sum of top probabilities)."""
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == y).astype(np.float64)
    index = confidence_bin(confidence, bins)
    return np.column_stack([np.bincount(index, minlength=bins), np.bincount(index, correct, bins),
                            np.bincount(index, confidence, bins)])


@dataclass
class Tally:
    n_classes: int
    review_threshold: float
    rows: int = 0
    brier_sum: float = 0.0
    review: int = 0
    most_probable: np.ndarray = field(init=False)  # [actual, most probable class]
    decided: np.ndarray = field(init=False)  # [actual, served decision]
    scores: np.ndarray = field(init=False)  # [class, negative | positive, score bin]
    ece: np.ndarray = field(init=False)
    calibration: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        k = self.n_classes
        self.most_probable, self.decided = np.zeros((k, k), np.int64), np.zeros((k, k), np.int64)
        self.scores = np.zeros((k, 2, curves.SCORE_BINS), np.int64)
        self.ece, self.calibration = np.zeros((ECE_BINS, 3)), np.zeros((CALIBRATION_BINS, 3))

    def add(self, y: np.ndarray, probabilities: np.ndarray, decided: np.ndarray) -> None:
        k = self.n_classes
        self.rows += len(y)
        self.most_probable += confusion_counts(y, probabilities.argmax(axis=1), k)
        self.decided += confusion_counts(y, decided, k)
        self.scores += score_histograms(y, probabilities)
        self.brier_sum += float(((probabilities - np.eye(k)[y]) ** 2).sum())
        self.review += int(needs_review(probabilities, self.review_threshold).sum())
        self.ece += calibration_sums(y, probabilities, ECE_BINS)
        self.calibration += calibration_sums(y, probabilities, CALIBRATION_BINS)

    @property
    def labels(self) -> np.ndarray:
        return self.decided.sum(axis=1)

    def curve_counts(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Class k's (positives, negatives) per score bin."""
        return self.scores[k, 1], self.scores[k, 0]


def per_class_recall(confusion: np.ndarray) -> np.ndarray:
    support = confusion.sum(axis=1)
    return np.divide(np.diag(confusion), support, out=np.zeros(len(support)), where=support > 0)


def per_class_precision(confusion: np.ndarray) -> np.ndarray:
    flagged = confusion.sum(axis=0)
    return np.divide(np.diag(confusion), flagged, out=np.zeros(len(flagged)), where=flagged > 0)


def macro_f1(confusion: np.ndarray) -> float:
    """Macro-F1 over every class (a class without cases or flags scores 0, as scikit-learn's zero_division=0)."""
    hits, denominator = np.diag(confusion), confusion.sum(axis=0) + confusion.sum(axis=1)
    return float(np.divide(2 * hits, denominator, out=np.zeros(len(hits)), where=denominator > 0).mean())


def balanced_accuracy(confusion: np.ndarray) -> float:
    """Mean recall over the classes with cases (scikit-learn's balanced accuracy)."""
    present = confusion.sum(axis=1) > 0
    return float(per_class_recall(confusion)[present].mean())


def macro_roc_auc(scores: np.ndarray) -> float:
    """One-vs-rest macro ROC-AUC over the classes with cases and non-cases (at least two); `scores` as Tally's."""
    aucs = [auc for auc in (curves.roc_auc(scores[k, 1], scores[k, 0]) for k in range(len(scores)))
            if np.isfinite(auc)]
    return float(np.mean(aucs)) if len(aucs) >= 2 else float("nan")


def expected_calibration_error(sums: np.ndarray) -> float:
    rows, correct, confidence = sums.T
    total = rows.sum()
    used = rows > 0
    return float((np.abs(correct[used] - confidence[used]) / total).sum()) if total else float("nan")


def calibration_curve(sums: np.ndarray) -> list[float]:
    """Accuracy of the top label per confidence bin (nan where the bin is empty)."""
    rows, correct = sums[:, 0], sums[:, 1]
    return [float(c / r) if r else float("nan") for r, c in zip(rows, correct, strict=True)]
