"""The O(n) bootstrap: each statistic on a resample's weights equals scikit-learn's on the materialised resample
(ties inside and across classes included), and the interval covers the estimate."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from triage.evaluation.bootstrap import (
    average_precision_statistic,
    bootstrap_intervals,
    macro_f1_statistic,
    macro_roc_auc_statistic,
    precision_at_recall_statistic,
)
from triage.evaluation.metrics import precision_at_recall
from triage_shared.decision import decide

ORPHAN = 4


def tied_probabilities(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(5), size=n)
    y = np.array([rng.choice(5, p=row) for row in p])
    p = np.round(p, 2)  # ties, as a calibrated model's rounded scores have
    p[y == ORPHAN] = np.round(p[y == ORPHAN] * 0.5, 2)  # a class far from the others
    return y, p


def resamples(n: int, rounds: int, seed: int):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, n) for _ in range(rounds)]


def weights_of(rows: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rows, minlength=n).astype(np.float64)


@pytest.mark.parametrize("seed", [1, 2])
def test_each_statistic_equals_scikit_learn_on_the_materialised_resample(seed):
    y, p = tied_probabilities(800, seed)
    decided = decide(p, 0.15, ORPHAN)
    cases = y == ORPHAN
    checks = [
        (macro_f1_statistic(y, decided, 5),
         lambda a, q, d: f1_score(a, d, average="macro", labels=list(range(5)), zero_division=0)),
        (macro_roc_auc_statistic(y, p),
         lambda a, q, d: np.mean([roc_auc_score(a == k, q[:, k]) for k in np.unique(a)])),
        (average_precision_statistic(cases, p[:, ORPHAN]),
         lambda a, q, d: average_precision_score(a == ORPHAN, q[:, ORPHAN])),
        (precision_at_recall_statistic(cases, p[:, ORPHAN], 0.8),
         lambda a, q, d: precision_at_recall(a, q[:, ORPHAN], 0.8, ORPHAN)),
    ]
    for rows in resamples(len(y), 15, seed):
        weights = weights_of(rows, len(y))
        for statistic, reference in checks:
            assert statistic(weights) == pytest.approx(reference(y[rows], p[rows], decided[rows]), abs=1e-12)


def test_undefined_rounds_are_left_out_and_never_defined_is_nan():
    y = np.zeros(50, dtype=int)
    y[:1] = ORPHAN  # one case: many resamples miss it
    scores = np.linspace(0, 1, 50)
    intervals = bootstrap_intervals(50, {"ap": average_precision_statistic(y == ORPHAN, scores),
                                         "never": average_precision_statistic(np.zeros(50, bool), scores)},
                                    rounds=40, seed=0)
    assert np.isfinite(intervals["ap"]).all()
    assert np.isnan(intervals["never"]).all()


def test_interval_covers_the_estimate_and_narrows_with_rows():
    widths = []
    for n in (400, 6400):
        y, p = tied_probabilities(n, 3)
        decided = decide(p, 0.15, ORPHAN)
        estimate = f1_score(y, decided, average="macro", labels=list(range(5)), zero_division=0)
        low, high = bootstrap_intervals(n, {"f1": macro_f1_statistic(y, decided, 5)}, rounds=200, seed=1)["f1"]
        assert low < estimate < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2.5  # about 1 / sqrt(16)
