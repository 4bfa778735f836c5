import numpy as np
from sklearn.metrics import roc_auc_score

from triage.evaluation.metrics import (
    bootstrap_interval,
    bootstrap_macro_auc,
    decide,
    expected_calibration_error,
    orphan_recall,
    precision_at_recall,
    recall_at_precision,
    tune_orphan_threshold,
)
from triage.release.gate import check_gate

ORPHAN = 4  # five classes, orphan last (product order)


def random_probabilities(n, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(5), size=n)
    y = np.array([rng.choice(5, p=row) for row in p])
    return y, p


def test_tuned_threshold_reaches_the_recall_target():
    y, p = random_probabilities(4000)
    for target in (0.8, 0.95):
        threshold = tune_orphan_threshold(y, p, target, 0.0, ORPHAN)
        assert orphan_recall(y, decide(p, threshold, ORPHAN), ORPHAN) >= target
        assert orphan_recall(y, decide(p, threshold + 1e-6, ORPHAN), ORPHAN) < target


def test_safety_margin_raises_the_recall_on_validation():
    y, p = random_probabilities(4000)
    assert tune_orphan_threshold(y, p, 0.9, 1.0, ORPHAN) < tune_orphan_threshold(y, p, 0.9, 0.0, ORPHAN)


def test_decision_uses_the_orphan_threshold_then_argmax():
    p = np.array([[0.6, 0.2, 0.1, 0.0, 0.1], [0.1, 0.5, 0.1, 0.0, 0.3]])
    assert decide(p, 0.25, ORPHAN).tolist() == [0, ORPHAN]
    assert decide(p, 0.35, ORPHAN).tolist() == [0, 1]
    assert decide(p[:, :4], None, None).tolist() == [0, 1]  # no orphan class: the most probable class


def test_calibration_error_of_perfect_and_overconfident_models():
    y, p = random_probabilities(20000, seed=2)
    assert expected_calibration_error(y, p) < 0.03
    overconfident = np.eye(5)[p.argmax(axis=1)]
    assert expected_calibration_error(y, overconfident) > 0.3


def test_bootstrap_interval_covers_the_point_estimate():
    y, p = random_probabilities(3000, seed=3)
    estimate = orphan_recall(y, decide(p, 0.2, ORPHAN), ORPHAN)
    low, high = bootstrap_interval(y, p, lambda a, q: orphan_recall(a, decide(q, 0.2, ORPHAN), ORPHAN), rounds=200,
                                   seed=1)
    assert low < estimate < high and high - low < 0.1


def test_fast_macro_auc_bootstrap_equals_the_plain_one_on_the_same_resamples():
    y, p = random_probabilities(1500, seed=5)
    p = np.round(p, 2)  # ties inside and across classes, as a calibrated model's rounded scores have
    p[y == ORPHAN] = np.round(p[y == ORPHAN] * 0.5, 2)  # and a class far from the others, so classes differ
    fast = bootstrap_macro_auc(y, p, rounds=60, seed=2)
    def per_class_mean(a, q):  # safe_roc_auc's rule on unnormalised scores: the classes present, one vs rest
        return float(np.mean([roc_auc_score(a == k, q[:, k]) for k in np.unique(a)]))

    plain = bootstrap_interval(y, p, per_class_mean, rounds=60, seed=2)
    assert np.allclose(fast, plain, atol=1e-12) and fast[0] < per_class_mean(y, p) < fast[1]


def test_precision_at_recall_is_the_best_point_reaching_the_recall():
    y = np.array([ORPHAN, ORPHAN, ORPHAN, ORPHAN, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.2, 0.85, 0.5, 0.3, 0.1])
    assert precision_at_recall(y, scores, 0.5, ORPHAN) == 2 / 3  # 0.9, 0.85, 0.8: two of three
    assert precision_at_recall(y, scores, 0.75, ORPHAN) == 3 / 5  # down to 0.4
    assert precision_at_recall(y, scores, 1.0, ORPHAN) == 4 / 7  # down to 0.2
    assert np.isnan(precision_at_recall(np.zeros(3, dtype=int), np.ones(3), 0.5, ORPHAN))


def test_recall_at_precision_is_monotone():
    y, p = random_probabilities(3000, seed=4)
    assert recall_at_precision(y, p[:, ORPHAN], 0.3, ORPHAN) >= recall_at_precision(y, p[:, ORPHAN], 0.6, ORPHAN)


def test_gate_passes_and_fails_with_the_failing_line():
    minimums = {"min_roc_auc": 0.85, "min_orphan_recall_lower": 0.9, "min_macro_f1": 0.7}
    good = {"model": {"roc_auc_ovr_macro": 0.95, "orphan_recall_lower": 0.92, "macro_f1": 0.8}}
    assert all(line.passed for line in check_gate(good, minimums))
    bad = {"model": {"roc_auc_ovr_macro": 0.85, "orphan_recall_lower": 0.92}}
    lines = check_gate(bad, minimums)
    assert [line.passed for line in lines] == [False, True, False]
    assert str(lines[0]) == "FAIL  model.roc_auc_ovr_macro = 0.8500 (minimum 0.85)"
    assert "missing" in str(lines[2])


def test_gate_says_plainly_that_a_model_without_orphan_class_has_no_orphan_line():
    minimums = {"min_roc_auc": 0.85, "min_orphan_recall_lower": 0.9, "min_macro_f1": 0.7}
    metrics = {"orphan_decision": False, "model": {"roc_auc_ovr_macro": 0.95, "macro_f1": 0.8}}
    lines = check_gate(metrics, minimums)
    assert all(line.passed for line in lines)
    assert str(lines[1]).startswith("N/A") and "no orphan decision" in str(lines[1])
    metrics["model"]["macro_f1"] = 0.5
    assert not all(line.passed for line in check_gate(metrics, minimums))


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
    assert np.isnan(orphan_recall(np.zeros(3, dtype=int), np.zeros(3, dtype=int), ORPHAN))


def test_two_class_roc_auc_is_the_binary_auc():
    from sklearn.metrics import roc_auc_score

    from triage.evaluation.metrics import classification_summary

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 500)
    p1 = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    p = np.column_stack([1 - p1, p1])
    summary = classification_summary(y, p, None, 0.7, None)
    assert summary["roc_auc_ovr_macro"] == roc_auc_score(y, p1)
    assert not any(key.startswith("orphan") for key in summary)
