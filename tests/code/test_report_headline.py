"""The PR report's headline table and the regression gate, on metrics shaped like reports/metrics.json."""

import pytest

from triage.release.gate import check_regression
from triage.release.headline import WRONG_WAY, headline_rows, headline_table

CONTRACT = {"name": "simulated", "version": "1.0.0", "sha256": "ab" * 32}


def metrics(**model) -> dict:
    defaults = {"macro_f1_decision": 0.85, "macro_f1_decision_ci": [0.84, 0.86],
                "orphan_recall": 0.95, "orphan_recall_ci": [0.93, 0.97],
                "orphan_recall_lower": 0.93, "orphan_precision": 0.68, "orphan_precision_ci": [0.64, 0.72],
                "specialist_review_share": 0.28, "specialist_review_share_ci": [0.27, 0.29],
                "roc_auc_ovr_macro": 0.97, "roc_auc_ovr_macro_ci": [0.965, 0.975], "orphan_threshold": 0.109}
    return {"contract": CONTRACT, "orphan_decision": True, "model": {**defaults, **model}}


def by_label(rows):
    return {row.label: row for row in rows}


def test_a_change_is_marked_only_when_it_leaves_the_base_interval_on_the_bad_side():
    head = metrics(orphan_precision=0.625, specialist_review_share=0.285, macro_f1_decision=0.83,
                   roc_auc_ovr_macro=0.99,
                   orphan_threshold=0.072)
    rows = by_label(headline_rows(metrics(), head))
    assert rows["orphan precision"].marked            # 0.625 < 0.64: beyond the interval, the wrong way
    assert not rows["referred to a specialist"].marked  # +0.005: inside the interval
    assert rows["macro-F1 (served decision)"].marked   # 0.83 < 0.84
    assert not rows["ROC-AUC (macro, one vs rest)"].marked  # better, however much
    assert not rows["orphan decision threshold"].marked
    table = headline_table(list(rows.values()))
    assert "| orphan precision | 0.6800 | 0.6250 | -0.0550 ⚠ |" in table
    assert "| orphan decision threshold | 0.1090 | 0.0720 | -0.0370 |" in table


def test_lower_is_better_for_the_review_share_and_the_bound_uses_its_metrics_interval():
    rows = by_label(headline_rows(metrics(), metrics(specialist_review_share=0.30, orphan_recall_lower=0.905)))
    assert rows["referred to a specialist"].marked  # 0.30 > 0.29
    assert rows["orphan recall, 95 % lower bound"].marked  # fell 0.025, more than recall's 0.02 below its centre
    rows = by_label(headline_rows(metrics(), metrics(specialist_review_share=0.20, orphan_recall_lower=0.915)))
    assert not rows["referred to a specialist"].marked and not rows["orphan recall, 95 % lower bound"].marked


def test_without_a_base_nothing_is_marked_and_without_orphan_class_no_orphan_rows():
    rows = headline_rows(None, metrics(macro_f1_decision=0.1))
    assert not any(row.marked for row in rows) and f" {WRONG_WAY}" not in headline_table(rows)
    two_class = {"orphan_decision": False, "contract": CONTRACT, "model": {"macro_f1_decision": 0.9,
                                                                                "roc_auc_ovr_macro": 0.96}}
    labels = [row.label for row in headline_rows(None, two_class)]
    assert labels == ["macro-F1 (served decision)", "referred to a specialist", "ROC-AUC (macro, one vs rest)"]


def test_regression_gate_fails_beyond_the_tolerance_and_says_why_it_does_not_compare():
    tolerances = {"orphan_precision": 0.03, "specialist_review_share": 0.03}
    lines = check_regression(metrics(orphan_precision=0.625, specialist_review_share=0.30), metrics(), tolerances)
    assert [line.passed for line in lines] == [False, True]
    assert str(lines[0]) == "FAIL  model.orphan_precision = 0.6250 (base 0.6800; at most 0.03 lower)"
    assert str(lines[1]) == "PASS  model.specialist_review_share = 0.3000 (base 0.2800; at most 0.03 higher)"
    assert not check_regression(metrics(specialist_review_share=0.32), metrics(), tolerances)[1].passed
    first = check_regression(metrics(), None, tolerances)  # no base: the first model of a repository
    assert all(line.passed and "no value" in str(line) for line in first)
    other = {**metrics(), "contract": {**CONTRACT, "sha256": "cd" * 32}}
    assert all(line.passed and "another data contract" in str(line)
               for line in check_regression(metrics(orphan_precision=0.1), other, tolerances))


def test_an_unknown_metric_in_the_tolerances_is_named():
    with pytest.raises(ValueError, match="orphan_precison is not a metric"):
        check_regression(metrics(), metrics(), {"orphan_precison": 0.03})
