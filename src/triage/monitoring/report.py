"""The drift report in three forms: JSON (machines: one `drift_detected` verdict and its reasons), markdown (a GitHub
issue or CML comment) and HTML with plots of the most drifted features (self-contained: images inline)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

VERDICT_MD = {True: "**Deriva detectada** (drift detected)", False: "Sin deriva (no drift detected)"}


def labelled_orphan_text(labelled: dict) -> str:
    """'orphan recall 0.950 (19/20)'; 'no orphan class' for a model that makes no orphan decision."""
    if "orphan_cases" not in labelled:
        return "no orphan class"
    recall = "n/a" if labelled["orphan_recall"] is None else f"{labelled['orphan_recall']:.3f}"
    return f"orphan recall {recall} ({labelled['orphan_detected']}/{labelled['orphan_cases']})"


def most_drifted(report: dict, count: int) -> list[dict]:
    return sorted(report["features"], key=lambda f: (not f["drifted"], -f["psi"]))[:count]


def to_markdown(report: dict, top: int) -> str:
    lines = [f"## Drift report: {report['env']}", "",
             f"{VERDICT_MD[report['drift_detected']]}: {report['rows']} predictions of model "
             f"`{report['model']['sha256'][:12]}` ({report['window']['first']} → {report['window']['last']}) "
             f"against the training reference of {report['reference_rows']} rows.", ""]
    if report["reasons"]:
        lines += ["Reasons:", *[f"- {reason}" for reason in report["reasons"]], ""]
    mix = report["predicted_mix"]
    lines += ["| class | training prior | reference predicted | live predicted |", "|---|---|---|---|"]
    lines += [f"| {c} | {mix['training_prior'][c]:.1%} | {mix['reference'][c]:.1%} | {mix['live'][c]:.1%} |"
              for c in mix["live"]]
    review, estimate = report["specialist_review"], report["estimated_performance"]
    orphan_estimate = (f"; orphan recall estimate {estimate['reference']['orphan_recall']:.3f} → "
                       f"{estimate['live']['orphan_recall']:.3f}") if "orphan_recall" in estimate["live"] else ""
    lines += ["", f"Predicted mix: PSI {mix['psi']:.3f}, adjusted p {mix['p_adjusted']:.2g}. Specialist review: "
              f"{review['reference_share']:.1%} → {review['live_share']:.1%}. Label-free macro-F1 estimate: "
              f"{estimate['reference']['macro_f1']:.3f} → {estimate['live']['macro_f1']:.3f}{orphan_estimate}.", ""]
    if "labelled" in report:
        labelled = report["labelled"]
        lines += [f"Labelled visits joined: {labelled['rows']}: macro-F1 {labelled['macro_f1']:.3f}, "
                  f"{labelled_orphan_text(labelled)}.", ""]
    lines += ["| feature | test | PSI | adjusted p | missing rate (ref → live) | drifted |",
              "|---|---|---|---|---|---|"]
    for finding in most_drifted(report, top):
        lines.append(f"| {finding['feature']} | {finding['test']} | {finding['psi']:.3f} | "
                     f"{finding['p_adjusted']:.2g} | {finding['missing_rate_reference']:.1%} → "
                     f"{finding['missing_rate_live']:.1%} | {'yes' if finding['drifted'] else 'no'} |")
    drifted = sum(f["drifted"] for f in report["features"])
    lines += ["", f"{drifted} of {len(report['features'])} features drifted (Benjamini-Hochberg FDR "
              f"{report['thresholds']['alpha']}, PSI ≥ {report['thresholds']['psi']}). Unreadable log lines: "
              f"{report['unreadable_lines']}.", ""]
    return "\n".join(lines)


def _figure_png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars(title: str, labels: list[str], reference: list[float], live: list[float]) -> str:
    figure, axis = plt.subplots(figsize=(6, 2.8))
    positions = range(len(labels))
    axis.bar([p - 0.2 for p in positions], reference, width=0.4, label="reference")
    axis.bar([p + 0.2 for p in positions], live, width=0.4, label="live")
    axis.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=8)
    axis.set_ylabel("share")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    return _figure_png(figure)


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts) or 1
    return [c / total for c in counts]


def feature_plot(finding: dict, profile: dict) -> str:
    reference = profile["features"][finding["feature"]]
    if reference["kind"] == "numeric":
        edges = reference["edges"]
        labels = [f"≤{edges[0]:g}", *(f"{a:g}–{b:g}" for a, b in zip(edges, edges[1:], strict=False)),
                  f">{edges[-1]:g}"] if edges else ["all"]
    else:
        labels = reference["categories"]
    title = f"{finding['feature']}: PSI {finding['psi']:.3f}, adjusted p {finding['p_adjusted']:.2g}"
    return _bars(title, labels, _shares(finding["reference_counts"]), _shares(finding["live_counts"]))


def to_html(report: dict, profile: dict, top: int) -> str:
    mix = report["predicted_mix"]
    images = [_bars("Predicted class mix", list(mix["live"]), list(mix["reference"].values()),
                    list(mix["live"].values()))]
    images += [feature_plot(f, profile) for f in most_drifted(report, top)]
    body = html.escape(to_markdown(report, top))
    figures = "\n".join(f'<img alt="plot" src="data:image/png;base64,{image}">' for image in images)
    verdict = "drift detected" if report["drift_detected"] else "no drift"
    return (f"<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\"><title>triage drift report: "
            f"{html.escape(report['env'])}: {verdict}</title></head><body><h1>triage: {verdict}</h1>"
            f"<pre>{body}</pre>{figures}</body></html>\n")


def write_reports(report: dict, profile: dict, directory: Path, top: int) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "drift_report.json", "markdown": directory / "drift_report.md",
             "html": directory / "drift_report.html"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False, default=float) + "\n", encoding="utf-8")
    paths["markdown"].write_text(to_markdown(report, top), encoding="utf-8")
    paths["html"].write_text(to_html(report, profile, top), encoding="utf-8")
    return paths
