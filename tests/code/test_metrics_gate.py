import numpy as np

from triage.gate import check_gate
from triage.metrics import (
    ORPHAN,
    bootstrap_interval,
    decide,
    expected_calibration_error,
    orphan_recall,
    recall_at_precision,
    tune_orphan_threshold,
)


def random_probabilities(n, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(5), size=n)
    y = np.array([rng.choice(5, p=row) for row in p])
    return y, p


def test_tuned_threshold_reaches_the_recall_target():
    y, p = random_probabilities(4000)
    for target in (0.8, 0.95):
        threshold = tune_orphan_threshold(y, p, target)
        assert orphan_recall(y, decide(p, threshold)) >= target
        assert orphan_recall(y, decide(p, threshold + 1e-6)) < target


def test_safety_margin_raises_the_recall_on_validation():
    y, p = random_probabilities(4000)
    assert tune_orphan_threshold(y, p, 0.9, z=1.0) < tune_orphan_threshold(y, p, 0.9)


def test_decision_uses_the_orphan_threshold_then_argmax():
    p = np.array([[0.6, 0.2, 0.1, 0.0, 0.1], [0.1, 0.5, 0.1, 0.0, 0.3]])
    assert decide(p, 0.25).tolist() == [0, ORPHAN]
    assert decide(p, 0.35).tolist() == [0, 1]


def test_calibration_error_of_perfect_and_overconfident_models():
    y, p = random_probabilities(20000, seed=2)
    assert expected_calibration_error(y, p) < 0.03
    overconfident = np.eye(5)[p.argmax(axis=1)]
    assert expected_calibration_error(y, overconfident) > 0.3


def test_bootstrap_interval_covers_the_point_estimate():
    y, p = random_probabilities(3000, seed=3)
    estimate = orphan_recall(y, decide(p, 0.2))
    low, high = bootstrap_interval(y, p, lambda a, q: orphan_recall(a, decide(q, 0.2)), rounds=200, seed=1)
    assert low < estimate < high and high - low < 0.1


def test_recall_at_precision_is_monotone():
    y, p = random_probabilities(3000, seed=4)
    assert recall_at_precision(y, p[:, ORPHAN], 0.3) >= recall_at_precision(y, p[:, ORPHAN], 0.6)


def test_gate_passes_and_fails_with_the_failing_line():
    minimums = {"min_roc_auc": 0.85, "min_orphan_recall_lower": 0.9, "min_macro_f1": 0.7}
    good = {"model": {"roc_auc_ovr_macro": 0.95, "orphan_recall_lower": 0.92, "macro_f1": 0.8}}
    assert all(line.passed for line in check_gate(good, minimums))
    bad = {"model": {"roc_auc_ovr_macro": 0.85, "orphan_recall_lower": 0.92}}
    lines = check_gate(bad, minimums)
    assert [line.passed for line in lines] == [False, True, False]
    assert str(lines[0]) == "FAIL  model.roc_auc_ovr_macro = 0.8500 (minimum 0.85)"
    assert "missing" in str(lines[2])


def test_gate_command_exit_codes(tmp_path, params):
    import json

    from triage.cli import main

    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"model": {"roc_auc_ovr_macro": 0.5, "orphan_recall_lower": 0.99,
                                             "macro_f1": 0.9}}))
    assert main(["gate", "--metrics", str(metrics)]) == 1
    metrics.write_text(json.dumps({"model": {"roc_auc_ovr_macro": 0.99, "orphan_recall_lower": 0.99,
                                             "macro_f1": 0.9}}))
    assert main(["gate", "--metrics", str(metrics)]) == 0
    assert main(["gate", "--metrics", str(tmp_path / "absent.json")]) == 2


def test_orphan_recall_without_orphans_is_nan():
    assert np.isnan(orphan_recall(np.zeros(3, dtype=int), np.zeros(3, dtype=int)))
