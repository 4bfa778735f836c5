"""Metric functions for the triage decision: threshold tuning, per-class scores, calibration, intervals.

Intervals on a proportion (a recall, a precision, a share) are exact binomial (Clopper-Pearson) intervals: valid at
0 of n and at n of n, where a percentile bootstrap collapses to a point (3 of 3 caught gives [1.0, 1.0] by bootstrap,
[0.29, 1.0] exactly). The bootstrap stays for statistics that are not a proportion (macro-F1, ROC-AUC, PR-AUC).

Classes are indices into the model's class list (the contract's classes in product order); `orphan` is the index of
the orphan class, or None when the data has none — then there is no orphan threshold and the decision is the most
probable class.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from triage_shared.decision import decide, needs_review


def orphan_recall(y: np.ndarray, predicted: np.ndarray, orphan: int) -> float:
    positives = y == orphan
    return float((predicted[positives] == orphan).mean()) if positives.any() else float("nan")


def recall_at_precision(y: np.ndarray, scores: np.ndarray, precision_floor: float, orphan: int) -> float:
    """Best orphan recall reachable at a precision of at least `precision_floor` (for baseline comparison)."""
    precision, recall, _ = precision_recall_curve(y == orphan, scores)
    feasible = precision >= precision_floor
    return float(recall[feasible].max()) if feasible.any() else 0.0


def precision_at_recall(y: np.ndarray, scores: np.ndarray, recall_floor: float, orphan: int) -> float:
    """Best orphan precision along the precision-recall curve at a recall of at least `recall_floor`: the operating
    point's quality apart from where the validation-tuned threshold happens to land on test."""
    if not (y == orphan).any():
        return float("nan")
    precision, recall, _ = precision_recall_curve(y == orphan, scores)
    return float(precision[recall >= recall_floor].max())


def proportion_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial (Clopper-Pearson) interval of successes / trials; (nan, nan) without trials."""
    if trials <= 0:
        return float("nan"), float("nan")
    interval = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=level, method="exact")
    return float(interval.low), float(interval.high)


def likelihood_ratio(numerator: float, denominator: float) -> float | None:
    """A ratio that is infinite (or undefined) when its denominator is 0: None, so the JSON stays strict."""
    return numerator / denominator if denominator > 0 else None


def predictive_values(sensitivity: float, specificity: float, prevalence: float) -> dict[str, float]:
    """PPV and NPV of a flag at a prevalence (Bayes' rule): a rare-disease flag is judged at realistic prevalence."""
    true_pos, false_pos = sensitivity * prevalence, (1 - specificity) * (1 - prevalence)
    true_neg, false_neg = specificity * (1 - prevalence), (1 - sensitivity) * prevalence
    ppv = true_pos / (true_pos + false_pos) if true_pos + false_pos > 0 else float("nan")
    npv = true_neg / (true_neg + false_neg) if true_neg + false_neg > 0 else float("nan")
    return {"prevalence": prevalence, "ppv": ppv, "npv": npv}


def operating_point(y: np.ndarray, decided: np.ndarray, positive: int, stated_prevalence: float) -> dict:
    """What a clinician reads of a served flag (`decided == positive`): sensitivity and specificity with exact 95 %
    intervals, PPV and NPV at the test part's prevalence and at a stated one, and the likelihood ratios."""
    cases, flagged = y == positive, decided == positive
    caught, n_cases = int((flagged & cases).sum()), int(cases.sum())
    cleared, n_others = int((~flagged & ~cases).sum()), int((~cases).sum())
    sensitivity = caught / n_cases if n_cases else float("nan")
    specificity = cleared / n_others if n_others else float("nan")
    return {
        "cases": n_cases, "non_cases": n_others, "flagged": int(flagged.sum()),
        "sensitivity": sensitivity, "sensitivity_ci": list(proportion_interval(caught, n_cases)),
        "specificity": specificity, "specificity_ci": list(proportion_interval(cleared, n_others)),
        "lr_positive": likelihood_ratio(sensitivity, 1 - specificity),
        "lr_negative": likelihood_ratio(1 - sensitivity, specificity),
        "at_test_prevalence": predictive_values(sensitivity, specificity, n_cases / max(len(y), 1)),
        "at_stated_prevalence": predictive_values(sensitivity, specificity, stated_prevalence),
    }


def expected_calibration_error(y: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> float:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def brier_score(y: np.ndarray, probabilities: np.ndarray) -> float:
    onehot = np.eye(probabilities.shape[1])[y]
    return float(((probabilities - onehot) ** 2).sum(axis=1).mean())


def macro_f1(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    return float(f1_score(y, predicted, average="macro", labels=list(range(n_classes)), zero_division=0))


def classification_summary(y: np.ndarray, probabilities: np.ndarray, orphan_threshold: float | None,
                           review_threshold: float, orphan: int | None) -> dict[str, float]:
    """Headline metrics; the orphan ones only when the data has an orphan class."""
    n_classes = probabilities.shape[1]
    argmax = probabilities.argmax(axis=1)
    decided = decide(probabilities, orphan_threshold, orphan)
    out = {
        "macro_f1": macro_f1(y, argmax, n_classes),
        "macro_f1_decision": macro_f1(y, decided, n_classes),
        "balanced_accuracy": float(balanced_accuracy_score(y, argmax)),
        "roc_auc_ovr_macro": safe_roc_auc(y, probabilities),
        "brier": brier_score(y, probabilities),
        "ece": expected_calibration_error(y, probabilities),
        "specialist_review_share": float(needs_review(probabilities, review_threshold).mean()),
    }
    if orphan is not None:
        out.update({
            "orphan_threshold": orphan_threshold,
            "orphan_recall": orphan_recall(y, decided, orphan),
            "orphan_precision": float(precision_score(y == orphan, decided == orphan, zero_division=0)),
            "orphan_pr_auc": float(average_precision_score(y == orphan, probabilities[:, orphan]))
            if (y == orphan).any() else float("nan"),
        })
    return out


def safe_roc_auc(y: np.ndarray, probabilities: np.ndarray) -> float:
    """One-vs-rest macro ROC-AUC over the classes present (two classes: the usual binary AUC)."""
    present = np.unique(y)
    if len(present) < 2:
        return float("nan")
    if len(present) < probabilities.shape[1] or probabilities.shape[1] == 2:
        scores = [roc_auc_score(y == k, probabilities[:, k]) for k in present]
        return float(np.mean(scores))
    return float(roc_auc_score(y, probabilities, multi_class="ovr", average="macro"))


def per_class(y: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray,
              classes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    labels = list(range(len(classes)))
    recall = recall_score(y, predicted, average=None, labels=labels, zero_division=0)
    precision = precision_score(y, predicted, average=None, labels=labels, zero_division=0)
    out = {}
    for k, name in enumerate(classes):
        positives = y == k
        out[name] = {"recall": float(recall[k]), "precision": float(precision[k]), "support": int(positives.sum()),
                     "recall_ci": list(proportion_interval(int((predicted[positives] == k).sum()),
                                                           int(positives.sum()))),
                     "pr_auc": float(average_precision_score(positives, probabilities[:, k]))
                     if positives.any() else float("nan")}
    return out
