"""Performance without labels (confidence-based estimation) and with them (a labelled extract joined by visit).

Without labels, each row's calibrated probabilities are its expected one-hot label, so the expected confusion matrix
is the sum of probabilities over the rows given each decision; recall, precision and F1 follow from it. The estimate
holds while the model stays calibrated on the new population (covariate or prior shift, not a changed disease
presentation); the labelled figures are the check when labels arrive.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from triage import schema
from triage.metrics import ORPHAN, orphan_recall, safe_roc_auc


def estimated_performance(probabilities: np.ndarray, decided: np.ndarray) -> dict:
    n_classes = probabilities.shape[1]
    expected = np.zeros((n_classes, n_classes))  # [true, decided]
    for k in range(n_classes):
        expected[:, k] = probabilities[decided == k].sum(axis=0)
    true_positive = np.diag(expected)
    positives, predicted = expected.sum(axis=1), expected.sum(axis=0)
    recall = np.divide(true_positive, positives, out=np.zeros(n_classes), where=positives > 0)
    precision = np.divide(true_positive, predicted, out=np.zeros(n_classes), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=precision + recall > 0)
    return {"macro_f1": float(f1.mean()), "orphan_recall": float(recall[ORPHAN]),
            "per_class_recall": dict(zip(schema.CLASSES, recall.round(4).tolist(), strict=True))}


def labelled_performance(labels: np.ndarray, probabilities: np.ndarray, decided: np.ndarray) -> dict:
    """Live metrics defined as the gate defines them: macro-F1 over the most probable class (as
    reports/metrics.json's `macro_f1`), orphan recall under the tuned threshold."""
    classes = list(range(len(schema.CLASSES)))
    orphans = int((labels == ORPHAN).sum())
    argmax = probabilities.argmax(axis=1)
    return {"rows": len(labels), "orphan_cases": orphans,
            "orphan_detected": int(((labels == ORPHAN) & (decided == ORPHAN)).sum()),
            "macro_f1": float(f1_score(labels, argmax, average="macro", labels=classes, zero_division=0)),
            "macro_f1_decision": float(f1_score(labels, decided, average="macro", labels=classes, zero_division=0)),
            "orphan_recall": orphan_recall(labels, decided) if orphans else None,
            "roc_auc_ovr_macro": safe_roc_auc(labels, probabilities)}
