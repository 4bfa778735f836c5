"""Evaluation from batch aggregates: the histogram statistics equal scikit-learn's where scores never share a bin,
a part counted in batches gives the same tallies as at once, the Poisson bootstrap's intervals match the classic
bootstrap's, and the thresholds tuned on histograms reach their recall."""

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
)

from triage.evaluation import curves
from triage.evaluation.bootstrap import PoissonBootstrap, model_statistics
from triage.evaluation.metrics import headline, precision_at_recall
from triage.evaluation.tally import Tally
from triage.model.threshold import needed_cases
from triage_shared.decision import decide

ORPHAN = 4


def tied_probabilities(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores on a 0.01 grid: ties, as a calibrated model's rounded scores have, and distinct scores far apart
    (0.01 is about a hundred bins)."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(5), size=n)
    y = np.array([rng.choice(5, p=row) for row in p])
    p = np.round(p, 2)
    p[y == ORPHAN] = np.round(p[y == ORPHAN] * 0.5, 2)  # a class far from the others
    return y, p


def tally_of(y: np.ndarray, p: np.ndarray, decided: np.ndarray, batch: int) -> Tally:
    counts = Tally(5, 0.7)
    for start in range(0, len(y), batch):
        rows = slice(start, start + batch)
        counts.add(y[rows], p[rows], decided[rows])
    return counts


@pytest.mark.parametrize("seed", [1, 2])
def test_histogram_statistics_equal_scikit_learn_on_tied_scores(seed):
    y, p = tied_probabilities(3000, seed)
    counts = tally_of(y, p, decide(p, 0.15, ORPHAN), 1000)
    for k in range(5):
        positives, negatives = counts.curve_counts(k)
        assert curves.roc_auc(positives, negatives) == pytest.approx(roc_auc_score(y == k, p[:, k]), abs=1e-12)
        assert curves.average_precision(positives, negatives) == pytest.approx(
            average_precision_score(y == k, p[:, k]), abs=1e-12)
        for floor in (0.5, 0.8, 0.95):
            assert curves.precision_at_recall(positives, negatives, floor) == pytest.approx(
                precision_at_recall(y, p[:, k], floor, k), abs=1e-12)
        precision, recall, _ = precision_recall_curve(y == k, p[:, k])
        grid = np.linspace(0, 1, 11)
        assert np.allclose(curves.interpolated_precision(positives, negatives, grid),
                           [precision[recall >= r].max() for r in grid])
    summary = headline(counts, 0.15, ORPHAN)
    assert summary["macro_f1"] == pytest.approx(f1_score(y, p.argmax(axis=1), average="macro"), abs=1e-12)
    assert summary["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p.argmax(axis=1)), abs=1e-12)
    assert summary["roc_auc_ovr_macro"] == pytest.approx(np.mean([roc_auc_score(y == k, p[:, k]) for k in range(5)]),
                                                         abs=1e-12)


def test_a_part_counted_in_batches_gives_the_tally_of_the_whole():
    y, p = tied_probabilities(2500, 3)
    decided = decide(p, 0.15, ORPHAN)
    whole, batched = tally_of(y, p, decided, 2500), tally_of(y, p, decided, 333)
    for field in ("most_probable", "decided", "scores"):
        assert np.array_equal(getattr(whole, field), getattr(batched, field)), field
    assert np.array_equal(whole.calibration[:, :2], batched.calibration[:, :2])  # rows and hits; sums to rounding
    assert np.allclose(whole.calibration, batched.calibration) and np.allclose(whole.ece, batched.ece)
    assert whole.review == batched.review and whole.brier_sum == pytest.approx(batched.brier_sum)


def test_the_threshold_tuned_on_a_histogram_flags_what_the_target_needs():
    rng = np.random.default_rng(4)
    scores = rng.beta(5, 2, 700)
    positives = np.bincount(curves.score_bins(scores), minlength=curves.SCORE_BINS)
    needed = needed_cases(700, 0.95, 1.0)
    threshold = curves.threshold_for_recall(positives, needed)
    assert (scores >= threshold).sum() >= needed
    higher = np.sort(scores)[::-1][needed - 1] + 1e-3  # a threshold above the needed-th highest score
    assert threshold < higher and (scores >= higher).sum() < needed


def poisson_intervals(y, p, decided, rounds, seed, batch=1000):
    bootstrap = PoissonBootstrap(5, rounds, seed)
    for start in range(0, len(y), batch):
        rows = slice(start, start + batch)
        bootstrap.add(y[rows], p[rows], decided[rows])
    return bootstrap.intervals(model_statistics(ORPHAN, 0.8))


def classic_interval(y, decided, rounds, seed):
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        rows = rng.integers(0, len(y), len(y))
        values.append(f1_score(y[rows], decided[rows], average="macro", labels=list(range(5)), zero_division=0))
    return np.percentile(values, [2.5, 97.5])


def test_poisson_intervals_match_the_classic_bootstrap_cover_the_estimate_and_narrow_with_rows():
    widths = []
    for n in (1000, 16000):
        y, p = tied_probabilities(n, 5)
        decided = decide(p, 0.15, ORPHAN)
        intervals = poisson_intervals(y, p, decided, 300, 7)
        estimate = f1_score(y, decided, average="macro", labels=list(range(5)), zero_division=0)
        low, high = intervals["macro_f1_decision_ci"]
        assert low < estimate < high
        classic = classic_interval(y, decided, 300, 8)
        assert (high - low) / (classic[1] - classic[0]) == pytest.approx(1.0, abs=0.25)
        assert all(np.isfinite(intervals[name]).all() for name in intervals)
        widths.append(high - low)
    assert widths[1] < widths[0] / 2.5  # about 1 / sqrt(16)
    again = poisson_intervals(*tied_probabilities(16000, 5), decide(tied_probabilities(16000, 5)[1], 0.15, ORPHAN),
                              300, 7)
    assert again == intervals  # the same part in the same batches: the same intervals, to the bit


def test_rounds_without_a_case_are_left_out_and_a_class_never_seen_is_nan():
    y, p = tied_probabilities(400, 6)
    y[y == ORPHAN] = 0
    y[:1] = ORPHAN  # one case: many resamples miss it
    intervals = poisson_intervals(y, p, decide(p, 0.15, ORPHAN), 60, 0)
    assert np.isfinite(intervals["orphan_pr_auc_ci"]).all()
    y[:1] = 0
    assert np.isnan(poisson_intervals(y, p, decide(p, 0.15, ORPHAN), 20, 0)["orphan_pr_auc_ci"]).all()
