"""The live window against the reference profile: one finding per check, one verdict.

Per feature: PSI over the reference's quantile bins (or categories) with a KS test (numeric) or a chi-square test
(binary, categorical) on the recorded values, and a chi-square test on the missing-value rate. The p-values of all
feature tests are adjusted together (Benjamini-Hochberg false discovery rate, scipy), and a feature counts as drifted
only when its adjusted p-value is below `alpha` and its effect (PSI, or the change in missing rate) reaches the
configured size, so a large window does not alarm on differences too small to matter. The same two-sided rule applies
to the predicted-class mix (prior shift) and the specialist-review share; the label-free performance estimate and,
when labels are given, the live metrics against the gate's minimums complete the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from triage.monitoring.performance import estimated_performance, labelled_performance
from triage.monitoring.profile import bin_counts
from triage_shared.classes import orphan_index
from triage_shared.decision import decide, needs_review

EPSILON = 1e-4  # floor for empty bins in PSI
PREDICTION_CHECKS = ("predicted_mix", "orphan_share", "specialist_review")  # orphan_share: with an orphan class


@dataclass(frozen=True)
class Thresholds:
    alpha: float
    psi: float
    missing_rate_change: float
    review_share_change: float
    orphan_share_ratio: float
    estimated_f1_drop: float
    min_rows: int
    min_macro_f1: float
    min_orphan_recall: float

    @classmethod
    def from_params(cls, params: dict) -> Thresholds:
        monitor, gate = params["monitor"], params["gate"]
        return cls(alpha=monitor["alpha"], psi=monitor["psi_threshold"],
                   missing_rate_change=monitor["missing_rate_change"],
                   review_share_change=monitor["review_share_change"],
                   orphan_share_ratio=monitor["orphan_share_ratio"],
                   estimated_f1_drop=monitor["estimated_f1_drop"], min_rows=monitor["min_rows"],
                   min_macro_f1=gate["min_macro_f1"], min_orphan_recall=gate["min_orphan_recall_lower"])


def psi(reference_counts, live_counts) -> float:
    """Population stability index: sum (live - ref) * ln(live / ref) over bins, on shares floored at EPSILON."""
    reference = np.maximum(np.asarray(reference_counts, float) / max(np.sum(reference_counts), 1), EPSILON)
    live = np.maximum(np.asarray(live_counts, float) / max(np.sum(live_counts), 1), EPSILON)
    return float(np.sum((live - reference) * np.log(live / reference)))


def chi_square_p(reference_counts, live_counts) -> float:
    table = np.array([reference_counts, live_counts], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def feature_findings(profile: dict, window: pd.DataFrame) -> list[dict]:
    findings = []
    for name, reference in profile["features"].items():
        values = window[name]
        missing = int(values.isna().sum())
        present = values.dropna()
        if reference["kind"] == "numeric":
            live = present.to_numpy(dtype=np.float64)
            counts = bin_counts(live, np.asarray(reference["edges"])).tolist()
            p_value = float(stats.ks_2samp(reference["sample"], live).pvalue) if len(live) else 1.0
            test = "ks"
        else:
            categories = reference["categories"]
            shown = present.astype(int).astype(str) if reference["kind"] == "binary" else present.astype(str)
            tally = shown.value_counts()
            counts = [int(tally.get(c, 0)) for c in categories]
            p_value, test = chi_square_p(reference["counts"], counts), "chi2"
        reference_missing = reference["missing"] / reference["rows"]
        live_missing = missing / len(values) if len(values) else 0.0
        findings.append({
            "feature": name, "kind": reference["kind"], "test": test, "p_value": p_value,
            "psi": psi(reference["counts"], counts) if sum(counts) else 0.0,
            "reference_counts": reference["counts"], "live_counts": counts,
            "missing_rate_reference": reference_missing, "missing_rate_live": live_missing,
            "missing_p_value": chi_square_p([reference["missing"], reference["rows"] - reference["missing"]],
                                            [missing, len(values) - missing]),
        })
    return findings


def adjust(features: list[dict], predictions: dict, thresholds: Thresholds) -> None:
    """One Benjamini-Hochberg family over every test (feature distributions, missing rates, predicted class mix,
    orphan share, review share): with nothing drifted, the chance of any alarm stays at or below `alpha`. A check
    counts as drifted when its adjusted p-value is below `alpha` and its effect reaches the configured size."""
    tests = [(f, "p_value", "p_adjusted") for f in features] + \
        [(f, "missing_p_value", "missing_p_adjusted") for f in features] + \
        [(predictions[name], "p_value", "p_adjusted") for name in PREDICTION_CHECKS if name in predictions]
    adjusted = stats.false_discovery_control(np.clip([t[0][t[1]] for t in tests], 0, 1), method="bh")
    for (finding, _raw, key), value in zip(tests, adjusted, strict=True):
        finding[key] = float(value)
    for finding in features:
        finding["distribution_drift"] = finding["p_adjusted"] < thresholds.alpha and finding["psi"] >= thresholds.psi
        change = abs(finding["missing_rate_live"] - finding["missing_rate_reference"])
        finding["missing_drift"] = finding["missing_p_adjusted"] < thresholds.alpha and \
            change >= thresholds.missing_rate_change
        finding["drifted"] = finding["distribution_drift"] or finding["missing_drift"]
    for name in PREDICTION_CHECKS:
        if name in predictions:
            check = predictions[name]
            check["drifted"] = check["p_adjusted"] < thresholds.alpha and check.pop("large_effect")


def prediction_findings(profile: dict, window: pd.DataFrame, thresholds: Thresholds) -> tuple[dict, np.ndarray,
                                                                                                np.ndarray]:
    classes = profile["classes"]
    orphan = orphan_index(classes)
    probabilities = window[[f"p_{c}" for c in classes]].to_numpy(dtype=np.float64)
    decided = decide(probabilities, profile["thresholds"]["orphan"], orphan)
    live_counts = np.bincount(decided, minlength=len(classes)).tolist()
    reference_counts = profile["predicted_counts"]
    mix_p = chi_square_p(reference_counts, live_counts)
    mix_psi = psi(reference_counts, live_counts)
    review_live = int(needs_review(probabilities, profile["thresholds"]["review"]).sum())
    review_p = chi_square_p([profile["review_count"], profile["rows"] - profile["review_count"]],
                            [review_live, len(window) - review_live])
    review_reference_share = profile["review_count"] / profile["rows"]
    review_share = review_live / len(window)
    estimate = estimated_performance(probabilities, decided, classes)
    reference_estimate = profile["estimated_performance"]
    f1_drop = reference_estimate["macro_f1"] - estimate["macro_f1"]
    total_reference, total_live = sum(reference_counts), max(sum(live_counts), 1)
    out = {
        "predicted_mix": {
            "reference": {c: reference_counts[k] / total_reference for k, c in enumerate(classes)},
            "live": {c: live_counts[k] / total_live for k, c in enumerate(classes)},
            "training_prior": {c: n / sum(profile["label_counts"]) for c, n in zip(classes, profile["label_counts"],
                                                                                    strict=True)},
            "p_value": mix_p, "psi": mix_psi, "large_effect": mix_psi >= thresholds.psi},
        "specialist_review": {
            "reference_share": review_reference_share, "live_share": review_share, "p_value": review_p,
            "large_effect": abs(review_share - review_reference_share) >= thresholds.review_share_change},
        "estimated_performance": {
            "reference": reference_estimate, "live": estimate, "macro_f1_drop": f1_drop,
            "drifted": f1_drop >= thresholds.estimated_f1_drop},
    }
    if orphan is not None:
        out["orphan_share"] = orphan_share_check(reference_counts, live_counts, orphan, len(window), thresholds)
    return out, probabilities, decided


def orphan_share_check(reference_counts: list[int], live_counts: list[int], orphan: int, rows: int,
                       thresholds: Thresholds) -> dict:
    orphan_reference = reference_counts[orphan] / sum(reference_counts)
    orphan_live = live_counts[orphan] / max(rows, 1)
    orphan_p = chi_square_p([reference_counts[orphan], sum(reference_counts) - reference_counts[orphan]],
                            [live_counts[orphan], rows - live_counts[orphan]])
    ratio = orphan_live / orphan_reference if orphan_reference else float("inf")
    return {"reference": orphan_reference, "live": orphan_live, "ratio": ratio, "p_value": orphan_p,
            "large_effect": not 1 / thresholds.orphan_share_ratio < ratio < thresholds.orphan_share_ratio}


def labelled_findings(labels: np.ndarray, probabilities: np.ndarray, decided: np.ndarray,
                      thresholds: Thresholds, classes: list[str]) -> dict:
    live = labelled_performance(labels, probabilities, decided, classes)
    reasons = []
    if live["macro_f1"] < thresholds.min_macro_f1:
        reasons.append(f"live macro-F1 {live['macro_f1']:.3f} below the gate's {thresholds.min_macro_f1}")
    if live.get("orphan_cases"):
        below = stats.binomtest(live["orphan_detected"], live["orphan_cases"], thresholds.min_orphan_recall,
                                alternative="less").pvalue
        live["orphan_recall_below_minimum_p"] = float(below)
        if below < thresholds.alpha:
            reasons.append(f"live orphan recall {live['orphan_recall']:.3f} ({live['orphan_detected']}/"
                           f"{live['orphan_cases']}) significantly below the gate's {thresholds.min_orphan_recall}")
    return {**live, "drifted": bool(reasons), "reasons": reasons}


def compare(profile: dict, window: pd.DataFrame, thresholds: Thresholds, labels: np.ndarray | None = None) -> dict:
    """The whole comparison: findings per check, the reasons, and the verdict. `labels`, when given, are aligned
    with the window's rows (-1: not labelled); live metrics use the labelled rows."""
    if len(window) < thresholds.min_rows:
        raise ValueError(f"the window holds {len(window)} predictions; at least {thresholds.min_rows} are needed "
                         f"(monitor.min_rows)")
    features = feature_findings(profile, window)
    predictions, probabilities, decided = prediction_findings(profile, window, thresholds)
    adjust(features, predictions, thresholds)
    result = {"rows": len(window), "features": features, **predictions}
    reasons = [_feature_reason(f) for f in features if f["drifted"]]
    if predictions["predicted_mix"]["drifted"]:
        mix = predictions["predicted_mix"]
        shifts = ", ".join(f"{c} {mix['reference'][c]:.1%}→{mix['live'][c]:.1%}" for c in profile["classes"])
        reasons.append(f"predicted class mix shifted (PSI {mix['psi']:.3f}, adjusted p {mix['p_adjusted']:.2g}): "
                       f"{shifts}")
    if predictions.get("orphan_share", {}).get("drifted"):
        share = predictions["orphan_share"]
        reasons.append(f"predicted orphan share {share['reference']:.2%}→{share['live']:.2%} "
                       f"(×{share['ratio']:.2f}, adjusted p {share['p_adjusted']:.2g})")
    if predictions["specialist_review"]["drifted"]:
        review = predictions["specialist_review"]
        reasons.append(f"specialist-review share {review['reference_share']:.1%}→{review['live_share']:.1%}")
    if predictions["estimated_performance"]["drifted"]:
        estimate = predictions["estimated_performance"]
        reasons.append(f"label-free macro-F1 estimate fell by {estimate['macro_f1_drop']:.3f} "
                       f"({estimate['reference']['macro_f1']:.3f}→{estimate['live']['macro_f1']:.3f})")
    if labels is not None:
        known = labels >= 0
        result["labelled"] = labelled_findings(labels[known], probabilities[known], decided[known], thresholds,
                                               profile["classes"])
        reasons.extend(result["labelled"]["reasons"])
    result["drift_detected"] = bool(reasons)
    result["reasons"] = reasons
    return result


def _feature_reason(finding: dict) -> str:
    parts = []
    if finding["distribution_drift"]:
        parts.append(f"distribution PSI {finding['psi']:.3f} ({finding['test']} adjusted p "
                     f"{finding['p_adjusted']:.2g})")
    if finding["missing_drift"]:
        parts.append(f"missing rate {finding['missing_rate_reference']:.1%}→{finding['missing_rate_live']:.1%}")
    return f"feature {finding['feature']}: " + "; ".join(parts)


def label_index(labels: pd.Series, classes: list[str]) -> np.ndarray:
    """Class names as indices into the model's classes; -1 for rows without a label."""
    lookup = {name: k for k, name in enumerate(classes)}
    return labels.map(lookup).fillna(-1).to_numpy(dtype=np.int64)


def compare_profiles(base: dict, new: dict) -> list[dict]:
    """Data drift between two reference profiles (a pull request's data against its base branch's), feature by
    feature: PSI over the base's bins (numeric: the new sample binned on the base's edges), KS on the samples or
    chi-square on the counts, and the missing rates. Sorted by PSI, largest first."""
    rows = []
    for name, before in base["features"].items():
        after = new["features"].get(name)
        if after is None:
            continue
        if before["kind"] == "numeric":
            edges = np.asarray(before["edges"])
            base_counts = bin_counts(np.asarray(before["sample"]), edges)
            new_counts = bin_counts(np.asarray(after["sample"]), edges)
            p_value = float(stats.ks_2samp(before["sample"], after["sample"]).pvalue) \
                if before["sample"] and after["sample"] else 1.0
        else:
            base_counts, new_counts = before["counts"], after["counts"]
            p_value = chi_square_p(base_counts, new_counts)
        rows.append({"feature": name, "psi": psi(base_counts, new_counts), "p_value": p_value,
                     "missing_base": before["missing"] / max(before["rows"], 1),
                     "missing_new": after["missing"] / max(after["rows"], 1)})
    return sorted(rows, key=lambda row: -row["psi"])
