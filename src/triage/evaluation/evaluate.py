"""Test-set metrics of the triage model against the baselines (and, on the simulated cohort only, the exact Bayes
limit).

The model's orphan threshold is the one it serves: cross-fitted by the `train` stage on the training and validation
parts together (out of fold, grouped by patient). The baselines' and the Bayes limit's are tuned on the validation
part to reach evaluate.orphan_recall_target. Each is applied unchanged to the test part; a contract without an orphan
class gets no orphan threshold, and the decision is the most probable class.

Intervals: exact binomial (Clopper-Pearson) on every proportion (recall and precision per class, orphan operating
point, subgroup recall, review share), valid with three cases; bootstrap on macro-F1, ROC-AUC and PR-AUC. The
decision's figures are those of the served rule (`decide`: orphan threshold, then the most probable class), and
the orphan flag's operating point is given as a clinician reads it: sensitivity, specificity, PPV and NPV at the
test prevalence and at evaluate.stated_orphan_prevalence, and the likelihood ratios. The counts behind every
estimate (`evidence`) let the gate refuse a verdict on too few cases. Recall per subgroup follows the contract's
`subgroups` (and the site).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from triage.contract import Contract, NumericFeature
from triage.data.columns import OUTCOME_CODE, SITE_ID
from triage.evaluation.bootstrap import (
    average_precision_statistic,
    bootstrap_intervals,
    macro_f1_statistic,
    macro_roc_auc_statistic,
    precision_at_recall_statistic,
)
from triage.evaluation.metrics import (
    classification_summary,
    operating_point,
    orphan_recall,
    per_class,
    precision_at_recall,
    proportion_interval,
    recall_at_precision,
)
from triage.model.estimators import rule_applies, rule_scores
from triage.model.features import class_targets, feature_matrix
from triage.model.threshold import tune_orphan_threshold
from triage.simulation.generative import GenerativeModel
from triage.simulation.vocabulary import red_flag_columns
from triage.tables import in_batches
from triage_shared.decision import decide, needs_review


def method_probabilities(pipeline, baselines: dict, valid: pd.DataFrame, test: pd.DataFrame, contract: Contract,
                         generative: GenerativeModel | None) -> dict[str, tuple[np.ndarray | None, np.ndarray]]:
    """Validation and test class probabilities of the baselines and (simulated cohort) the Bayes limit, whose
    thresholds are tuned on validation, and the model's test probabilities (its threshold comes from train); each
    scored in batches."""
    def model_of(estimator) -> Callable[[pd.DataFrame], np.ndarray]:
        return lambda part: estimator.predict_proba(feature_matrix(part, contract))

    out: dict[str, tuple[np.ndarray | None, np.ndarray]] = {"model": (None, in_batches(test, model_of(pipeline)))}
    for name, estimator in baselines.items():
        out[name] = (in_batches(valid, model_of(estimator)), in_batches(test, model_of(estimator)))
    if rule_applies(contract):
        def rule(part: pd.DataFrame) -> np.ndarray:
            return rule_scores(part, red_flag_columns())

        out["rule"] = (in_batches(valid, rule), in_batches(test, rule))
    if generative is not None:
        out["bayes"] = (in_batches(valid, generative.posterior), in_batches(test, generative.posterior))
    return out


def band_labels(values: pd.Series, bands: tuple[float, ...], integer: bool) -> pd.Series:
    """Lower edges [0, 2, 12] -> '0-1', '2-11', '12+' (integers) or '0-<2', '2-<12', '12+'."""
    labels = pd.Series("unknown", index=values.index, dtype=object)
    labels[values < bands[0]] = f"<{bands[0]:g}"
    for low, high in zip(bands, bands[1:], strict=False):
        name = f"{low:g}-{high - 1:g}" if integer else f"{low:g}-<{high:g}"
        labels[(values >= low) & (values < high)] = name
    labels[values >= bands[-1]] = f"{bands[-1]:g}+"
    return labels


def subgroup_values(test: pd.DataFrame, contract: Contract) -> dict[str, pd.Series]:
    groups: dict[str, pd.Series] = {}
    for name, subgroup in contract.spec.subgroups.items():
        feature = contract.features[name]
        if isinstance(feature, NumericFeature):
            groups[name] = band_labels(test[name], subgroup.bands, feature.type == "int")
        else:
            groups[name] = test[name].astype(str)
    if SITE_ID in test.columns:
        groups["site"] = test[SITE_ID].astype(str)
    return groups


def subgroup_recall(test: pd.DataFrame, y: np.ndarray, decided: np.ndarray, contract: Contract) -> dict:
    orphan = contract.orphan_index
    out: dict = {}
    for name, values in subgroup_values(test, contract).items():
        out[name] = {}
        for value in sorted(values.unique()):
            members = (values == value).to_numpy()
            recalls = [float((decided[members & (y == k)] == k).mean()) for k in range(len(contract.classes))
                       if (members & (y == k)).any()]
            entry = {"n": int(members.sum()), "macro_recall": float(np.mean(recalls))}
            if orphan is not None:
                cases = members & (y == orphan)
                entry.update(orphan_n=int(cases.sum()),
                             orphan_recall=orphan_recall(y[members], decided[members], orphan),
                             orphan_recall_ci=list(proportion_interval(int((decided[cases] == orphan).sum()),
                                                                       int(cases.sum()))))
            out[name][value] = entry
    return out


def tuned_threshold(y_valid: np.ndarray, p_valid: np.ndarray, settings: dict, orphan: int | None) -> float | None:
    if orphan is None:
        return None
    return tune_orphan_threshold(y_valid, p_valid, settings["orphan_recall_target"], settings["threshold_z"], orphan)


def model_report(y: np.ndarray, p_test: np.ndarray, test: pd.DataFrame, threshold: float | None, settings: dict,
                 seed: int, holdout: set[str], contract: Contract) -> dict:
    """The model's test metrics at its served threshold, with their intervals."""
    orphan, n_classes = contract.orphan_index, len(contract.classes)
    report: dict = classification_summary(y, p_test, threshold, settings["review_threshold"], orphan)
    decided = decide(p_test, threshold, orphan)
    statistics = {"macro_f1_ci": macro_f1_statistic(y, p_test.argmax(axis=1), n_classes),
                  "macro_f1_decision_ci": macro_f1_statistic(y, decided, n_classes),
                  "roc_auc_ovr_macro_ci": macro_roc_auc_statistic(y, p_test)}
    intervals: dict = {"specialist_review_share_ci": proportion_interval(
        int(needs_review(p_test, settings["review_threshold"]).sum()), len(y))}
    if orphan is not None:
        report.update(orphan_report(y, p_test, decided, test, settings, holdout, orphan, intervals))
        cases, target = y == orphan, settings["orphan_recall_target"]
        statistics["orphan_precision_at_recall_target_ci"] = precision_at_recall_statistic(cases, p_test[:, orphan],
                                                                                           target)
        statistics["orphan_pr_auc_ci"] = average_precision_statistic(cases, p_test[:, orphan])
    intervals.update(bootstrap_intervals(len(y), statistics, settings["bootstrap"], seed))
    report.update({k: [round(v, 4) for v in interval] for k, interval in intervals.items()})
    report["per_class"] = per_class(y, decided, p_test, contract.classes)
    return report


def orphan_report(y: np.ndarray, p_test: np.ndarray, decided: np.ndarray, test: pd.DataFrame, settings: dict,
                  holdout: set[str], orphan: int, intervals: dict) -> dict:
    """The orphan flag's figures (exact intervals on recall and precision go into `intervals`): the operating
    point, and recall on seen and unseen diseases."""
    cases, flagged = y == orphan, decided == orphan
    caught = int((flagged & cases).sum())
    intervals["orphan_recall_ci"] = proportion_interval(caught, int(cases.sum()))
    intervals["orphan_precision_ci"] = proportion_interval(caught, int(flagged.sum()))
    unseen = test[OUTCOME_CODE].isin(holdout).to_numpy()
    return {
        "orphan_precision_at_recall_target": precision_at_recall(y, p_test[:, orphan],
                                                                 settings["orphan_recall_target"], orphan),
        "orphan_recall_lower": round(intervals["orphan_recall_ci"][0], 4),
        "orphan_recall_seen_diseases": orphan_recall(y[~unseen], decided[~unseen], orphan),
        "orphan_recall_unseen_diseases": orphan_recall(y[unseen], decided[unseen], orphan) if unseen.any() else None,
        "orphan_operating_point": operating_point(y, decided, orphan, settings["stated_orphan_prevalence"]),
    }


def evidence(y: np.ndarray, y_valid: np.ndarray, classes: tuple[str, ...], threshold_fit: dict | None) -> dict:
    """The counts behind the estimates: test and validation cases per class, and the cases the orphan threshold
    was tuned on."""
    out: dict = {"test_cases": {name: int((y == k).sum()) for k, name in enumerate(classes)},
                 "validation_cases": {name: int((y_valid == k).sum()) for k, name in enumerate(classes)}}
    if threshold_fit is not None:
        out["threshold_tuning_cases"] = int(threshold_fit["orphan_cases"])
    return out


def short_summary(y: np.ndarray, p_valid: np.ndarray, y_valid: np.ndarray, p_test: np.ndarray,
                  settings: dict, model_precision: float | None, orphan: int | None) -> dict:
    threshold = tuned_threshold(y_valid, p_valid, settings, orphan)
    summary = classification_summary(y, p_test, threshold, settings["review_threshold"], orphan)
    keep = ("macro_f1", "macro_f1_decision", "balanced_accuracy", "roc_auc_ovr_macro", "orphan_recall",
            "orphan_precision", "orphan_pr_auc", "orphan_threshold", "brier")
    out = {k: summary[k] for k in keep if k in summary}
    if orphan is not None:
        out["orphan_recall_at_model_precision"] = recall_at_precision(y, p_test[:, orphan], model_precision, orphan)
        out["orphan_precision_at_recall_target"] = precision_at_recall(y, p_test[:, orphan],
                                                                       settings["orphan_recall_target"], orphan)
    return out


def rounded(data):
    if isinstance(data, dict):
        return {k: rounded(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [rounded(v) for v in data]
    if isinstance(data, float):
        return round(data, 4) if np.isfinite(data) else None
    return data


def evaluate(settings: dict, seed: int, bundle: dict, baselines: dict, valid: pd.DataFrame, test: pd.DataFrame,
             contract: Contract, holdout: set[str], generative: GenerativeModel | None
             ) -> tuple[dict, dict, dict, np.ndarray]:
    """Metrics, subgroup recall, test probabilities per method, and the test labels. `bundle`: the train stage's
    models/pipeline.joblib (the pipeline and its cross-fitted orphan threshold)."""
    y_valid, y = class_targets(valid, contract.classes), class_targets(test, contract.classes)
    probabilities = method_probabilities(bundle["pipeline"], baselines, valid, test, contract, generative)
    _, p_test = probabilities.pop("model")
    orphan, threshold_fit = contract.orphan_index, bundle.get("orphan_threshold")
    threshold = None if orphan is None or threshold_fit is None else float(threshold_fit["value"])
    report = model_report(y, p_test, test, threshold, settings, seed, holdout, contract)
    others = {name: short_summary(y, pv, y_valid, pt, settings, report.get("orphan_precision"), orphan)
              for name, (pv, pt) in probabilities.items()}
    bayes = others.pop("bayes", None)
    metrics = {"classes": list(contract.classes), "orphan_decision": orphan is not None,
               "contract": {"name": contract.name, "version": contract.version, "sha256": contract.sha256},
               "model": report, "baselines": others, "test_rows": len(test),
               "orphan_threshold_fit": threshold_fit, "evidence": evidence(y, y_valid, contract.classes, threshold_fit)}
    if orphan is not None:
        metrics["test_orphan_cases"] = int((y == orphan).sum())
        metrics["beats_baselines_on_orphan_recall"] = all(
            report["orphan_recall"] >= b["orphan_recall_at_model_precision"] for b in others.values())
    if bayes is not None:
        metrics["bayes_limit"] = bayes
        metrics["model_to_bayes_macro_f1"] = report["macro_f1"] / bayes["macro_f1"]
    subgroups = subgroup_recall(test, y, decide(p_test, threshold, orphan), contract)
    curves = {"model": p_test, **{k: v[1] for k, v in probabilities.items()}}
    return rounded(metrics), rounded(subgroups), curves, y
