"""Performance without labels (confidence-based estimation) and with them (a labelled extract joined by visit).

Without labels, each row's calibrated probabilities are its expected one-hot label, so the expected confusion matrix
is the sum of probabilities over the rows given each decision; recall, precision and F1 follow from it. The estimate
holds while the model stays calibrated on the new population (covariate or prior shift, not a changed disease
presentation); the labelled figures are the check when labels arrive.
"""

from __future__ import annotations

import numpy as np

from triage.evaluation.metrics import macro_f1, orphan_recall, safe_roc_auc
from triage_shared.classes import ORPHAN_CLASS


def expected_confusion(probabilities: np.ndarray, decided: np.ndarray) -> np.ndarray:
    """[true, decided]: each row's probabilities added to its decision's column (batches add up)."""
    n_classes = probabilities.shape[1]
    expected = np.zeros((n_classes, n_classes))
    for k in range(n_classes):
        expected[:, k] = probabilities[decided == k].sum(axis=0)
    return expected


def estimated_performance(probabilities: np.ndarray, decided: np.ndarray, classes: list[str]) -> dict:
    return performance_of_expected(expected_confusion(probabilities, decided), classes)


def performance_of_expected(expected: np.ndarray, classes: list[str]) -> dict:
    """Recall per class, macro-F1 and orphan recall of an expected confusion table."""
    n_classes = len(expected)
    true_positive = np.diag(expected)
    positives, predicted = expected.sum(axis=1), expected.sum(axis=0)
    recall = np.divide(true_positive, positives, out=np.zeros(n_classes), where=positives > 0)
    precision = np.divide(true_positive, predicted, out=np.zeros(n_classes), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=precision + recall > 0)
    out = {"macro_f1": float(f1.mean()),
           "per_class_recall": dict(zip(classes, recall.round(4).tolist(), strict=True))}
    if ORPHAN_CLASS in classes:
        out["orphan_recall"] = float(recall[classes.index(ORPHAN_CLASS)])
    return out


def labelled_performance(labels: np.ndarray, probabilities: np.ndarray, decided: np.ndarray,
                         classes: list[str]) -> dict:
    """Live metrics defined as the gate defines them: macro-F1 over the most probable class (as
    reports/metrics.json's `macro_f1`), orphan recall under the tuned threshold (when there is an orphan class)."""
    n_classes = len(classes)
    out = {"rows": len(labels), "macro_f1": macro_f1(labels, probabilities.argmax(axis=1), n_classes),
           "macro_f1_decision": macro_f1(labels, decided, n_classes),
           "roc_auc_ovr_macro": safe_roc_auc(labels, probabilities)}
    if ORPHAN_CLASS in classes:
        orphan = classes.index(ORPHAN_CLASS)
        cases = int((labels == orphan).sum())
        out.update(orphan_cases=cases, orphan_detected=int(((labels == orphan) & (decided == orphan)).sum()),
                   orphan_recall=orphan_recall(labels, decided, orphan) if cases else None)
    return out
