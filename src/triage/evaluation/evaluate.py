"""Test-set metrics of the triage model against the baselines (and, on the simulated cohort only, the exact Bayes
limit), from batch aggregates.

Every method scores the parts in batches, and each batch is added to counts whose size does not depend on the
number of rows (`tally.Tally`, the Poisson bootstrap, the subgroup counts): memory stays flat from the 100,000-visit
default to tens of millions of visits. Counts give the proportions exactly; the curve statistics (ROC-AUC, PR-AUC,
precision at a recall) are read off score histograms (`curves`).

The model's orphan threshold is the one it serves: cross-fitted by the `train` stage on the training and validation
parts together (out of fold, grouped by patient). The baselines' and the Bayes limit's are tuned on the validation
part to reach evaluate.orphan_recall_target (the highest histogram bin floor that does). Each is applied unchanged to
the test part; a contract without an orphan class gets no orphan threshold, and the decision is the most probable
class.

Intervals: exact binomial (Clopper-Pearson) on every proportion (recall and precision per class, orphan operating
point, subgroup recall, review share), valid with three cases; Poisson bootstrap on macro-F1, ROC-AUC and PR-AUC.
The decision's figures are those of the served rule (`decide`: orphan threshold, then the most probable class), and
the orphan flag's operating point is given as a clinician reads it: sensitivity, specificity, PPV and NPV at the
test prevalence and at evaluate.stated_orphan_prevalence, and the likelihood ratios. The counts behind every
estimate (`evidence`) let the gate refuse a verdict on too few cases. Recall per subgroup follows the contract's
`subgroups` (and the site).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage.contract import Contract
from triage.data.columns import OUTCOME_CODE
from triage.errors import UserError
from triage.evaluation import curves
from triage.evaluation.bootstrap import PoissonBootstrap, model_statistics
from triage.evaluation.metrics import headline, operating_point, per_class, proportion_interval
from triage.evaluation.subgroups import SubgroupCounts
from triage.evaluation.tally import Tally
from triage.model.estimators import rule_applies, rule_scores
from triage.model.features import class_targets, feature_matrix
from triage.model.threshold import NO_CASES_THRESHOLD, needed_cases
from triage.simulation.generative import GenerativeModel
from triage.simulation.vocabulary import red_flag_columns
from triage.tables import Batches
from triage_shared.decision import decide

Scorer = Callable[[pd.DataFrame], np.ndarray]
Progress = Callable[[str], None]
PROGRESS_EVERY = 20  # batches between progress lines


def scorers(pipeline, baselines: dict, contract: Contract, generative: GenerativeModel | None) -> dict[str, Scorer]:
    """Each method's class probabilities for a batch: the model first, then the baselines, the red-flag rule (where
    the contract has its columns) and, on the simulated cohort, the Bayes posterior."""
    def model_of(estimator) -> Scorer:
        return lambda part: estimator.predict_proba(feature_matrix(part, contract))

    out = {"model": model_of(pipeline), **{name: model_of(estimator) for name, estimator in baselines.items()}}
    if rule_applies(contract):
        out["rule"] = lambda part: rule_scores(part, red_flag_columns())
    if generative is not None:
        out["bayes"] = generative.posterior
    return out


def validation_thresholds(valid: Batches, methods: dict[str, Scorer], settings: dict,
                          contract: Contract) -> tuple[np.ndarray, dict[str, float | None]]:
    """The validation part's class counts, and each method's orphan threshold tuned on it (None without an orphan
    class): the highest bin floor whose recall on the validation cases reaches the target, raised by threshold_z
    standard errors."""
    orphan, labels = contract.orphan_index, np.zeros(len(contract.classes), np.int64)
    cases = {name: np.zeros(curves.SCORE_BINS, np.int64) for name in methods}
    for batch in valid():
        y = class_targets(batch, contract.classes)
        labels += np.bincount(y, minlength=len(labels))
        rows = np.flatnonzero(y == orphan) if orphan is not None else []
        if len(rows) == 0:
            continue
        for name, score in methods.items():  # only the orphan cases count: only they are scored
            cases[name] += np.bincount(curves.score_bins(score(batch.iloc[rows])[:, orphan]),
                                       minlength=curves.SCORE_BINS)
    if orphan is None:
        return labels, dict.fromkeys(methods)
    thresholds = {}
    for name, counts in cases.items():
        n_cases = int(counts.sum())
        thresholds[name] = NO_CASES_THRESHOLD if n_cases == 0 else curves.threshold_for_recall(
            counts, needed_cases(n_cases, settings["orphan_recall_target"], settings["threshold_z"]))
    return labels, thresholds


@dataclass
class TestCounts:
    """What the test part leaves: each method's tally, the model's bootstrap and subgroup counts, and the orphan
    cases caught among diseases seen and unseen in training ([unseen][cases, caught])."""
    tallies: dict[str, Tally]
    bootstrap: PoissonBootstrap
    subgroups: SubgroupCounts
    seen_unseen: np.ndarray


def score_test(test: Batches, methods: dict[str, Scorer], thresholds: dict[str, float | None], settings: dict,
               seed: int, contract: Contract, holdout: set[str], progress: Progress) -> TestCounts:
    orphan, n_classes = contract.orphan_index, len(contract.classes)
    counts = TestCounts({name: Tally(n_classes, settings["review_threshold"]) for name in methods},
                        PoissonBootstrap(n_classes, settings["bootstrap"], seed), SubgroupCounts(contract),
                        np.zeros((2, 2), np.int64))
    for number, batch in enumerate(test(), start=1):
        if number % PROGRESS_EVERY == 0:
            progress(f"test part: {counts.tallies['model'].rows:,} rows scored by {len(methods)} methods")
        y = class_targets(batch, contract.classes)
        for name, score in methods.items():
            probabilities = score(batch)
            decided = decide(probabilities, thresholds[name], orphan)
            counts.tallies[name].add(y, probabilities, decided)
            if name == "model":
                counts.bootstrap.add(y, probabilities, decided)
                counts.subgroups.add(batch, y, decided)
                if orphan is not None:
                    unseen = batch[OUTCOME_CODE].isin(holdout).to_numpy().astype(np.int64)
                    cases = y == orphan
                    np.add.at(counts.seen_unseen, (unseen[cases], 0), 1)
                    np.add.at(counts.seen_unseen, (unseen[cases & (decided == orphan)], 1), 1)
    return counts


def recall_of(cases_caught: np.ndarray) -> float | None:
    cases, caught = cases_caught
    return float(caught / cases) if cases else None


def model_report(counts: TestCounts, threshold: float | None, settings: dict, contract: Contract) -> dict:
    """The model's test metrics at its served threshold, with their intervals."""
    orphan, model = contract.orphan_index, counts.tallies["model"]
    report: dict = headline(model, threshold, orphan)
    intervals: dict = {"specialist_review_share_ci": proportion_interval(model.review, model.rows)}
    if orphan is not None:
        caught, cases, flagged = (int(model.decided[orphan, orphan]), int(model.labels[orphan]),
                                  int(model.decided[:, orphan].sum()))
        intervals["orphan_recall_ci"] = proportion_interval(caught, cases)
        intervals["orphan_precision_ci"] = proportion_interval(caught, flagged)
        report.update({
            "orphan_precision_at_recall_target": curves.precision_at_recall(
                *model.curve_counts(orphan), settings["orphan_recall_target"]),
            "orphan_recall_lower": round(intervals["orphan_recall_ci"][0], 4),
            "orphan_recall_seen_diseases": recall_of(counts.seen_unseen[0]),
            "orphan_recall_unseen_diseases": recall_of(counts.seen_unseen[1]),
            "orphan_operating_point": operating_point(model.decided, orphan, settings["stated_orphan_prevalence"]),
        })
    intervals.update(counts.bootstrap.intervals(model_statistics(orphan, settings["orphan_recall_target"])))
    report.update({k: [round(v, 4) for v in interval] for k, interval in intervals.items()})
    report["per_class"] = per_class(model, contract.classes)
    return report


def evidence(test_labels: np.ndarray, valid_labels: np.ndarray, classes: tuple[str, ...],
             threshold_fit: dict | None) -> dict:
    """The counts behind the estimates: test and validation cases per class, and the cases the orphan threshold
    was tuned on."""
    out: dict = {"test_cases": {name: int(test_labels[k]) for k, name in enumerate(classes)},
                 "validation_cases": {name: int(valid_labels[k]) for k, name in enumerate(classes)}}
    if threshold_fit is not None:
        out["threshold_tuning_cases"] = int(threshold_fit["orphan_cases"])
    return out


def short_summary(counts: Tally, threshold: float | None, settings: dict, model_precision: float | None,
                  orphan: int | None) -> dict:
    summary = headline(counts, threshold, orphan)
    keep = ("macro_f1", "macro_f1_decision", "balanced_accuracy", "roc_auc_ovr_macro", "orphan_recall",
            "orphan_precision", "orphan_pr_auc", "orphan_threshold", "brier")
    out = {k: summary[k] for k in keep if k in summary}
    if orphan is not None:
        positives, negatives = counts.curve_counts(orphan)
        out["orphan_recall_at_model_precision"] = curves.recall_at_precision(positives, negatives, model_precision)
        out["orphan_precision_at_recall_target"] = curves.precision_at_recall(positives, negatives,
                                                                              settings["orphan_recall_target"])
    return out


def rounded(data):
    if isinstance(data, dict):
        return {k: rounded(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [rounded(v) for v in data]
    if isinstance(data, float):
        return round(data, 4) if np.isfinite(data) else None
    return data


def evaluate(settings: dict, seed: int, bundle: dict, baselines: dict, valid: Batches, test: Batches,
             contract: Contract, holdout: set[str], generative: GenerativeModel | None,
             progress: Progress = lambda _: None) -> tuple[dict, dict, dict[str, Tally]]:
    """Metrics, subgroup recall, and each method's test tally (for the plot tables). `bundle`: the train stage's
    models/pipeline.joblib (the pipeline and its cross-fitted orphan threshold)."""
    methods = scorers(bundle["pipeline"], baselines, contract, generative)
    orphan, threshold_fit = contract.orphan_index, bundle.get("orphan_threshold")
    valid_labels, thresholds = validation_thresholds(valid, {k: v for k, v in methods.items() if k != "model"},
                                                     settings, contract)
    progress(f"validation part: {int(valid_labels.sum()):,} rows; thresholds of {', '.join(thresholds)} tuned")
    thresholds["model"] = None if orphan is None or threshold_fit is None else float(threshold_fit["value"])
    counts = score_test(test, methods, thresholds, settings, seed, contract, holdout, progress)
    model = counts.tallies["model"]
    if model.rows == 0:
        raise UserError("evaluate: the test part has no rows (see reports/split.json)")
    report = model_report(counts, thresholds["model"], settings, contract)
    others = {name: short_summary(tally, thresholds[name], settings, report.get("orphan_precision"), orphan)
              for name, tally in counts.tallies.items() if name != "model"}
    bayes = others.pop("bayes", None)
    metrics = {"classes": list(contract.classes), "orphan_decision": orphan is not None,
               "contract": {"name": contract.name, "version": contract.version, "sha256": contract.sha256},
               "model": report, "baselines": others, "test_rows": model.rows,
               "orphan_threshold_fit": threshold_fit,
               "evidence": evidence(model.labels, valid_labels, contract.classes, threshold_fit)}
    if orphan is not None:
        metrics["test_orphan_cases"] = int(model.labels[orphan])
        metrics["beats_baselines_on_orphan_recall"] = all(
            report["orphan_recall"] >= b["orphan_recall_at_model_precision"] for b in others.values())
    if bayes is not None:
        metrics["bayes_limit"] = bayes
        metrics["model_to_bayes_macro_f1"] = report["macro_f1"] / bayes["macro_f1"]
    return rounded(metrics), rounded(counts.subgroups.report(orphan)), counts.tallies
