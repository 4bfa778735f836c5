"""Metric functions for the triage decision: headline figures and per-class scores read off a method's tally
(`triage.evaluation.tally`), the orphan flag's operating point, intervals; and the few row-level figures the
monitor's labelled performance and the model search compute on rows they hold.

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
from sklearn.metrics import precision_recall_curve, roc_auc_score

from triage.evaluation import curves, tally


def orphan_recall(y: np.ndarray, predicted: np.ndarray, orphan: int) -> float:
    positives = y == orphan
    return float((predicted[positives] == orphan).mean()) if positives.any() else float("nan")


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


def operating_point(confusion: np.ndarray, positive: int, stated_prevalence: float) -> dict:
    """What a clinician reads of a served flag (the decision `positive`, from the [actual, decided] counts):
    sensitivity and specificity with exact 95 % intervals, PPV and NPV at the test part's prevalence and at a stated
    one, and the likelihood ratios."""
    rows, n_cases = int(confusion.sum()), int(confusion[positive].sum())
    caught, flagged = int(confusion[positive, positive]), int(confusion[:, positive].sum())
    n_others = rows - n_cases
    cleared = n_others - (flagged - caught)
    sensitivity = caught / n_cases if n_cases else float("nan")
    specificity = cleared / n_others if n_others else float("nan")
    return {
        "cases": n_cases, "non_cases": n_others, "flagged": flagged,
        "sensitivity": sensitivity, "sensitivity_ci": list(proportion_interval(caught, n_cases)),
        "specificity": specificity, "specificity_ci": list(proportion_interval(cleared, n_others)),
        "lr_positive": likelihood_ratio(sensitivity, 1 - specificity),
        "lr_negative": likelihood_ratio(1 - sensitivity, specificity),
        "at_test_prevalence": predictive_values(sensitivity, specificity, n_cases / max(rows, 1)),
        "at_stated_prevalence": predictive_values(sensitivity, specificity, stated_prevalence),
    }


def macro_f1(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    return tally.macro_f1(tally.confusion_counts(y, predicted, n_classes))


def headline(counts: tally.Tally, orphan_threshold: float | None, orphan: int | None) -> dict[str, float]:
    """Headline metrics of a method's tally; the orphan ones only when the data has an orphan class."""
    out = {
        "macro_f1": tally.macro_f1(counts.most_probable),
        "macro_f1_decision": tally.macro_f1(counts.decided),
        "balanced_accuracy": tally.balanced_accuracy(counts.most_probable),
        "roc_auc_ovr_macro": tally.macro_roc_auc(counts.scores),
        "brier": counts.brier_sum / counts.rows,
        "ece": tally.expected_calibration_error(counts.ece),
        "specialist_review_share": counts.review / counts.rows,
    }
    if orphan is not None:
        out.update({
            "orphan_threshold": orphan_threshold,
            "orphan_recall": float(tally.per_class_recall(counts.decided)[orphan])
            if counts.labels[orphan] else float("nan"),
            "orphan_precision": float(tally.per_class_precision(counts.decided)[orphan]),
            "orphan_pr_auc": curves.average_precision(*counts.curve_counts(orphan)),
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


def per_class(counts: tally.Tally, classes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Recall (exact interval) and precision of the served decision, support and PR-AUC, per class."""
    recall, precision = tally.per_class_recall(counts.decided), tally.per_class_precision(counts.decided)
    out = {}
    for k, name in enumerate(classes):
        support = int(counts.labels[k])
        out[name] = {"recall": float(recall[k]), "precision": float(precision[k]), "support": support,
                     "recall_ci": list(proportion_interval(int(counts.decided[k, k]), support)),
                     "pr_auc": curves.average_precision(*counts.curve_counts(k))}
    return out
