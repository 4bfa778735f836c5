"""Stage `evaluate`: test-set metrics of the triage model against the Bayes limit and the baselines.

The orphan threshold of every method is tuned on the validation part to reach evaluate.orphan_recall_target, then
applied unchanged to the test part. Headline metrics carry bootstrap 95 % intervals. Writes reports/metrics.json,
reports/subgroups.json, the DVC plot tables under reports/plots/ and PNG figures under reports/figures/.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score

from triage import config, schema
from triage.cohort.generative import GenerativeModel
from triage.features import class_targets, feature_matrix
from triage.metrics import (
    ORPHAN,
    bootstrap_interval,
    classification_summary,
    decide,
    orphan_recall,
    per_class,
    recall_at_precision,
    tune_orphan_threshold,
)
from triage.modeling import PREPROCESSED_FEATURES, rule_scores
from triage.plots import write_figures, write_plot_tables
from triage.stages.split import read_holdout
from triage.tables import write_json

AGE_BANDS = [(0, 1, "0-1"), (2, 11, "2-11"), (12, 17, "12-17"), (18, 39, "18-39"), (40, 64, "40-64"),
             (65, 120, "65+")]
log = config.stage_logger("evaluate")


def method_probabilities(pipeline, valid: pd.DataFrame, test: pd.DataFrame, bayes_limit: bool
                         ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validation and test class probabilities of the model, the baselines and (if available) the Bayes limit."""
    baselines = joblib.load(config.BASELINES_BUNDLE)
    x_valid, x_test = feature_matrix(valid), feature_matrix(test)
    out = {"model": (pipeline.predict_proba(x_valid), pipeline.predict_proba(x_test))}
    for name, estimator in baselines.items():
        out[name] = (estimator.predict_proba(x_valid), estimator.predict_proba(x_test))
    out["rule"] = (rule_scores(valid), rule_scores(test))
    if bayes_limit and config.GENERATIVE_MODEL.exists():
        generative = GenerativeModel.load(config.GENERATIVE_MODEL)
        out["bayes"] = (generative.posterior(valid), generative.posterior(test))
    return out


def age_band(ages: pd.Series) -> pd.Series:
    bands = pd.Series("unknown", index=ages.index, dtype=object)
    for low, high, name in AGE_BANDS:
        bands[(ages >= low) & (ages <= high)] = name
    return bands


def subgroup_recall(test: pd.DataFrame, y: np.ndarray, decided: np.ndarray) -> dict:
    groups = {"sex": test["sex"].astype(str), "age_band": age_band(test["age_years"]),
              "site": test["site_id"].astype(str)}
    out: dict = {}
    for name, values in groups.items():
        out[name] = {}
        for value in sorted(values.unique()):
            members = (values == value).to_numpy()
            recalls = [float((decided[members & (y == k)] == k).mean()) for k in range(len(schema.CLASSES))
                       if (members & (y == k)).any()]
            out[name][value] = {"n": int(members.sum()), "macro_recall": float(np.mean(recalls)),
                                "orphan_n": int((members & (y == ORPHAN)).sum()),
                                "orphan_recall": orphan_recall(y[members], decided[members])}
    return out


def model_report(y: np.ndarray, p_valid: np.ndarray, y_valid: np.ndarray, p_test: np.ndarray, test: pd.DataFrame,
                 settings: dict, seed: int, holdout: set[str]) -> tuple[dict, float]:
    threshold = tune_orphan_threshold(y_valid, p_valid, settings["orphan_recall_target"],
                                      settings["threshold_z"])
    summary = classification_summary(y, p_test, threshold, settings["review_threshold"])
    decided = decide(p_test, threshold)
    rounds = settings["bootstrap"]
    intervals = {
        "orphan_recall_ci": bootstrap_interval(y, p_test, lambda a, p: orphan_recall(a, decide(p, threshold)),
                                               rounds, seed),
        "orphan_pr_auc_ci": bootstrap_interval(
            y, p_test, lambda a, p: average_precision_score(a == ORPHAN, p[:, ORPHAN]) if (a == ORPHAN).any()
            else float("nan"), rounds, seed),
        "macro_f1_ci": bootstrap_interval(
            y, p_test, lambda a, p: f1_score(a, p.argmax(axis=1), average="macro",
                                             labels=list(range(len(schema.CLASSES))), zero_division=0),
            rounds, seed),
    }
    unseen = test[schema.OUTCOME_COLUMN].isin(holdout).to_numpy()
    report = {**summary, **{k: [round(v, 4) for v in interval] for k, interval in intervals.items()},
              "orphan_recall_lower": round(intervals["orphan_recall_ci"][0], 4),
              "orphan_recall_seen_diseases": orphan_recall(y[~unseen], decided[~unseen]),
              "orphan_recall_unseen_diseases": orphan_recall(y[unseen], decided[unseen]) if unseen.any()
              else None,
              "per_class": per_class(y, decided, p_test)}
    return report, threshold


def short_summary(y: np.ndarray, p_valid: np.ndarray, y_valid: np.ndarray, p_test: np.ndarray,
                  settings: dict, model_precision: float) -> dict:
    threshold = tune_orphan_threshold(y_valid, p_valid, settings["orphan_recall_target"],
                                      settings["threshold_z"])
    summary = classification_summary(y, p_test, threshold, settings["review_threshold"])
    keep = ("macro_f1", "macro_f1_decision", "balanced_accuracy", "roc_auc_ovr_macro", "orphan_recall",
            "orphan_precision", "orphan_pr_auc", "orphan_threshold", "brier")
    out = {k: summary[k] for k in keep}
    out["orphan_recall_at_model_precision"] = recall_at_precision(y, p_test[:, ORPHAN], model_precision)
    return out


def rounded(data):
    if isinstance(data, dict):
        return {k: rounded(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [rounded(v) for v in data]
    if isinstance(data, float):
        return round(data, 4) if np.isfinite(data) else None
    return data


def evaluate(params: dict, pipeline) -> tuple[dict, dict, dict, np.ndarray]:
    """Metrics, subgroup recall, test probabilities per method, and the test labels."""
    settings, seed = params["evaluate"], params["base"]["seed"]
    valid, test = pd.read_parquet(config.VALID), pd.read_parquet(config.TEST)
    y_valid, y = class_targets(valid), class_targets(test)
    holdout = read_holdout(params["split"].get("holdout_file"))
    probabilities = method_probabilities(pipeline, valid, test, settings["bayes_limit"])
    p_valid, p_test = probabilities.pop("model")
    log.info("scoring %d test rows; bootstrap intervals over %d resamples", len(test), settings["bootstrap"])
    report, threshold = model_report(y, p_valid, y_valid, p_test, test, settings, seed, holdout)
    others = {name: short_summary(y, pv, y_valid, pt, settings, report["orphan_precision"])
              for name, (pv, pt) in probabilities.items()}
    bayes = others.pop("bayes", None)
    metrics = {"model": report, "baselines": others, "test_rows": len(test),
               "test_orphan_cases": int((y == ORPHAN).sum())}
    if bayes is not None:
        metrics["bayes_limit"] = bayes
        metrics["model_to_bayes_macro_f1"] = report["macro_f1"] / bayes["macro_f1"]
    metrics["beats_baselines_on_orphan_recall"] = all(
        report["orphan_recall"] >= b["orphan_recall_at_model_precision"] for b in others.values())
    subgroups = subgroup_recall(test, y, decide(p_test, threshold))
    curves = {"model": p_test, **{k: v[1] for k, v in probabilities.items()}}
    return rounded(metrics), rounded(subgroups), curves, y


def main() -> None:
    params = config.load_params()
    pipeline = joblib.load(config.MODEL_BUNDLE)["pipeline"]
    metrics, subgroups, curves, y = evaluate(params, pipeline)
    write_json(metrics, config.REPORTS / "metrics.json")
    write_json(subgroups, config.REPORTS / "subgroups.json")
    importance = pd.Series(pipeline.named_steps["model"].get_feature_importance(), index=PREPROCESSED_FEATURES)
    tables = write_plot_tables(y, curves, metrics["model"]["orphan_threshold"], importance,
                               config.REPORTS / "plots")
    write_figures(tables, Path(config.REPORTS / "figures"))
    model = metrics["model"]
    log.info("macro-F1 %.3f (Bayes %s), ROC-AUC %.3f, orphan recall %.3f [%.3f, %.3f] at precision %.3f, "
             "review share %.3f", model["macro_f1"], metrics.get("bayes_limit", {}).get("macro_f1"),
             model["roc_auc_ovr_macro"], model["orphan_recall"], *model["orphan_recall_ci"],
             model["orphan_precision"], model["specialist_review_share"])


if __name__ == "__main__":
    main()
