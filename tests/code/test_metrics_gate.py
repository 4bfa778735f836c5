import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from triage.evaluation import curves
from triage.evaluation.metrics import orphan_recall, precision_at_recall
from triage.evaluation.tally import Tally, expected_calibration_error
from triage.model.threshold import tune_orphan_threshold
from triage.release.gate import check_gate
from triage_shared.decision import decide

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


def calibration_error(y: np.ndarray, p: np.ndarray) -> float:
    counts = Tally(5, 0.7)
    counts.add(y, p, p.argmax(axis=1))
    return expected_calibration_error(counts.ece)


def test_calibration_error_of_perfect_and_overconfident_models():
    y, p = random_probabilities(20000, seed=2)
    assert calibration_error(y, p) < 0.03
    overconfident = np.eye(5)[p.argmax(axis=1)]
    assert calibration_error(y, overconfident) > 0.3


def test_precision_at_recall_is_the_best_point_reaching_the_recall():
    y = np.array([ORPHAN, ORPHAN, ORPHAN, ORPHAN, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.2, 0.85, 0.5, 0.3, 0.1])
    assert precision_at_recall(y, scores, 0.5, ORPHAN) == 2 / 3  # 0.9, 0.85, 0.8: two of three
    assert precision_at_recall(y, scores, 0.75, ORPHAN) == 3 / 5  # down to 0.4
    assert precision_at_recall(y, scores, 1.0, ORPHAN) == 4 / 7  # down to 0.2
    assert np.isnan(precision_at_recall(np.zeros(3, dtype=int), np.ones(3), 0.5, ORPHAN))


def test_recall_at_precision_is_monotone():
    y, p = random_probabilities(3000, seed=4)
    counts = Tally(5, 0.7)
    counts.add(y, p, p.argmax(axis=1))
    positives, negatives = counts.curve_counts(ORPHAN)
    assert curves.recall_at_precision(positives, negatives, 0.3) >= curves.recall_at_precision(positives, negatives,
                                                                                                0.6)


MINIMUMS = {"min_roc_auc": 0.85, "min_orphan_recall_lower": 0.9, "min_macro_f1": 0.7, "min_cases": 20}
ENOUGH = {"test_cases": {"none": 300, "orphan": 40}, "threshold_tuning_cases": 150}


def gated(lines, name):
    return next(line for line in lines if line.name == name)


def test_gate_passes_and_fails_with_the_failing_line():
    good = {"model": {"roc_auc_ovr_macro": 0.95, "orphan_recall_lower": 0.92, "macro_f1_decision": 0.8},
            "evidence": ENOUGH}
    assert all(line.passed for line in check_gate(good, MINIMUMS))
    bad = {"model": {"roc_auc_ovr_macro": 0.85, "orphan_recall_lower": 0.92}, "evidence": ENOUGH}
    lines = check_gate(bad, MINIMUMS)
    assert [line.passed for line in lines[-3:]] == [False, True, False]
    assert str(lines[-3]) == "FAIL  model.roc_auc_ovr_macro = 0.8500 (minimum 0.85)"
    assert "missing" in str(lines[-1])


def test_gate_judges_the_served_decision_not_the_most_probable_class():
    """A real extract: macro-F1 of the most probable class 0.855 passed while the served rule's was 0.738."""
    metrics = {"model": {"roc_auc_ovr_macro": 0.95, "orphan_recall_lower": 0.95, "macro_f1": 0.855,
                         "macro_f1_decision": 0.738}, "evidence": ENOUGH}
    line = gated(check_gate(metrics, {**MINIMUMS, "min_macro_f1": 0.75}), "model.macro_f1_decision")
    assert not line.passed and "0.7380" in str(line)


def test_three_orphan_cases_are_insufficient_evidence_never_a_pass():
    """17 rare cases, 3 in test, all caught: the percentile bootstrap said [1.0, 1.0] and the gate passed."""
    metrics = {"model": {"roc_auc_ovr_macro": 0.95, "orphan_recall_lower": 1.0, "macro_f1_decision": 0.8},
               "evidence": {"test_cases": {"none": 900, "orphan": 3}, "threshold_tuning_cases": 14}}
    lines = check_gate(metrics, MINIMUMS)
    assert "FAIL  evidence orphan: insufficient evidence (n = 3 test cases; minimum 20)" in map(str, lines)
    assert "FAIL  evidence orphan threshold: insufficient evidence (n = 14 tuning cases; minimum 20)" in map(str, lines)
    recall = gated(lines, "model.orphan_recall_lower")
    assert not recall.passed and str(recall) == ("FAIL  model.orphan_recall_lower: insufficient evidence "
                                                 "(n = 3 test cases)")


def test_metrics_without_case_counts_get_no_verdict():
    metrics = {"model": {"roc_auc_ovr_macro": 0.95, "orphan_recall_lower": 0.95, "macro_f1_decision": 0.8}}
    assert not gated(check_gate(metrics, MINIMUMS), "evidence").passed


def test_gate_says_plainly_that_a_model_without_orphan_class_has_no_orphan_line():
    metrics = {"orphan_decision": False, "model": {"roc_auc_ovr_macro": 0.95, "macro_f1_decision": 0.8},
               "evidence": {"test_cases": {"below": 200, "above": 80}}}
    lines = check_gate(metrics, MINIMUMS)
    assert all(line.passed for line in lines)
    orphan_line = gated(lines, "model.orphan_recall_lower")
    assert str(orphan_line).startswith("N/A") and "no orphan decision" in str(orphan_line)
    metrics["model"]["macro_f1_decision"] = 0.5
    assert not all(line.passed for line in check_gate(metrics, MINIMUMS))


def test_exact_interval_is_valid_at_zero_and_at_n():
    from scipy.stats import binom

    from triage.evaluation.metrics import proportion_interval

    low, high = proportion_interval(3, 3)
    assert high == 1.0 and abs(low - 0.025 ** (1 / 3)) < 1e-9  # Clopper-Pearson: 0.2924, not the bootstrap's 1.0
    low, high = proportion_interval(0, 12)
    assert low == 0.0 and abs(binom.cdf(0, 12, high) - 0.025) < 1e-9
    low, high = proportion_interval(412, 442)
    assert binom.sf(411, 442, low) == pytest.approx(0.025) and binom.cdf(412, 442, high) == pytest.approx(0.025)
    assert all(np.isnan(proportion_interval(0, 0)))


def test_operating_point_is_what_the_confusion_table_says():
    from triage.evaluation.metrics import operating_point
    from triage.evaluation.tally import confusion_counts

    y = np.array([ORPHAN] * 10 + [0] * 90)
    decided = np.array([ORPHAN] * 9 + [1] + [ORPHAN] * 6 + [0] * 84)
    point = operating_point(confusion_counts(y, decided, 5), ORPHAN, stated_prevalence=0.005)
    assert point["sensitivity"] == 0.9 and point["specificity"] == 84 / 90
    assert point["at_test_prevalence"]["ppv"] == pytest.approx(9 / 15)  # at the table's own prevalence: precision
    assert point["at_test_prevalence"]["npv"] == pytest.approx(84 / 85)
    assert point["lr_positive"] == pytest.approx(0.9 / (6 / 90))
    assert point["lr_negative"] == pytest.approx(0.1 / (84 / 90))
    stated = point["at_stated_prevalence"]
    assert stated["ppv"] == pytest.approx(0.9 * 0.005 / (0.9 * 0.005 + 6 / 90 * 0.995))
    assert stated["ppv"] < point["at_test_prevalence"]["ppv"] and point["sensitivity_ci"][0] < 0.9


def test_gate_command_refuses_metrics_that_are_not_the_current_pipelines(tmp_path, params, capsys):
    """No provenance, another contract: each a failed line naming why (the e2e tests show a passing gate)."""
    import json

    from triage.cli import main
    from triage.evaluation.provenance import contract_sha256, provenance

    record = provenance(params, contract_sha256(params))
    metrics = tmp_path / "metrics.json"
    good_model = {"roc_auc_ovr_macro": 0.99, "orphan_recall_lower": 0.99, "macro_f1_decision": 0.9}
    metrics.write_text(json.dumps({"model": good_model, "evidence": ENOUGH}))
    assert main(["gate", "--metrics", str(metrics)]) == 1
    assert "FAIL  metrics provenance: reports/metrics.json records no provenance" in capsys.readouterr().out
    other = {**record, "contract_sha256": "0" * 64}
    metrics.write_text(json.dumps({"model": good_model, "evidence": ENOUGH, "provenance": other}))
    assert main(["gate", "--metrics", str(metrics)]) == 1
    assert "FAIL  metrics provenance: the metrics were computed under contract sha256 000000000000" in \
        capsys.readouterr().out
    assert main(["gate", "--metrics", str(tmp_path / "absent.json")]) == 2


def test_provenance_names_what_changed(params):
    from triage.evaluation.provenance import contract_sha256, mismatches, provenance

    metrics = {"provenance": provenance(params, contract_sha256(params))}
    assert mismatches(metrics, params) == []
    changed = {**params, "evaluate": {**params["evaluate"], "review_threshold": 0.5}}
    assert mismatches(metrics, changed) == ["params changed since the metrics were computed: evaluate"]
    moved = {**params, "data": {**params["data"], "contract": "data/contracts/examples/flchain.yaml"}}
    assert "flchain.yaml" in mismatches(metrics, moved)[0]


def test_evaluate_params_are_the_ones_dvc_yaml_lists():
    import yaml

    from triage.evaluation.provenance import EVALUATE_PARAMS

    from ..conftest import REPO

    listed = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["evaluate"]["params"]
    assert tuple(listed) == EVALUATE_PARAMS


def test_orphan_recall_without_orphans_is_nan():
    assert np.isnan(orphan_recall(np.zeros(3, dtype=int), np.zeros(3, dtype=int), ORPHAN))


def test_two_class_roc_auc_is_the_binary_auc():

    from triage.evaluation.metrics import headline

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 500)
    p1 = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    p = np.column_stack([1 - p1, p1])
    counts = Tally(2, 0.7)
    counts.add(y, p, p.argmax(axis=1))
    summary = headline(counts, None, None)
    assert summary["roc_auc_ovr_macro"] == pytest.approx(roc_auc_score(y, p1), abs=1e-4)  # ties within a bin
    assert not any(key.startswith("orphan") for key in summary)
