"""DVC plot tables (CSV, kept in git) and PNG figures (for PR comments) of the evaluation.

The tables always carry the columns dvc.yaml's plot definitions name (every product class, every method), empty where
the contract has no such class or the method does not apply, so the definitions hold for any contract.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

from triage.contract import Contract  # noqa: E402
from triage.tables import write_csv  # noqa: E402
from triage_shared.classes import CLASSES  # noqa: E402
from triage_shared.decision import decide  # noqa: E402

RECALL_GRID = np.round(np.linspace(0, 1, 51), 2)
CALIBRATION_BINS = 10
METHODS = ("model", "logistic_regression", "random_forest", "rule", "bayes")


def interpolated_precision(positives: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Precision at each recall of the grid (the best precision reachable at that recall or more)."""
    if not positives.any():
        return np.full(len(RECALL_GRID), np.nan)
    precision, recall, _ = precision_recall_curve(positives, scores)
    return np.array([precision[recall >= r].max() for r in RECALL_GRID])


def write_plot_tables(y: np.ndarray, curves: dict[str, np.ndarray], orphan_threshold: float | None,
                      importance: pd.Series, contract: Contract, directory: Path) -> dict[str, pd.DataFrame]:
    directory.mkdir(parents=True, exist_ok=True)
    model, orphan = curves["model"], contract.orphan_index
    names = np.array(contract.classes)
    empty = np.full(len(RECALL_GRID), np.nan)
    per_class = {c: interpolated_precision(y == k, model[:, k]) for k, c in enumerate(contract.classes)}
    tables = {
        "confusion": pd.DataFrame({"actual": names[y], "predicted": names[decide(model, orphan_threshold, orphan)]}),
        "pr_curves": pd.DataFrame({"recall": RECALL_GRID, **{c: per_class.get(c, empty) for c in CLASSES}}),
        "orphan_pr": pd.DataFrame({"recall": RECALL_GRID, **{
            m: interpolated_precision(y == orphan, curves[m][:, orphan]) if orphan is not None and m in curves
            else empty for m in METHODS}}),
        "calibration": calibration_table(y, curves),
        "feature_importance": importance.sort_values(ascending=False).head(25).rename_axis("feature")
        .reset_index(name="importance"),
    }
    for name, table in tables.items():
        write_csv(table.round(5), directory / f"{name}.csv")
    return tables


def calibration_table(y: np.ndarray, curves: dict[str, np.ndarray]) -> pd.DataFrame:
    """Top-label reliability: mean confidence vs accuracy per confidence bin, for each method with probabilities."""
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    rows = {"confidence_bin": np.round((edges[:-1] + edges[1:]) / 2, 3)}
    for method in ("model", "bayes"):
        if method not in curves:
            rows[method] = [np.nan] * CALIBRATION_BINS
            continue
        p = curves[method]
        confidence, correct = p.max(axis=1), p.argmax(axis=1) == y
        index = np.clip(np.digitize(confidence, edges[1:-1]), 0, CALIBRATION_BINS - 1)
        rows[method] = [correct[index == b].mean() if (index == b).any() else np.nan
                        for b in range(CALIBRATION_BINS)]
    return pd.DataFrame(rows)


def write_figures(tables: dict[str, pd.DataFrame], contract: Contract, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _confusion_figure(tables["confusion"], contract.classes, directory / "confusion.png")
    _lines_figure(tables["pr_curves"], "recall", "precision", "PR curves per class (test)",
                  directory / "pr_curves.png")
    _lines_figure(tables["orphan_pr"], "recall", "precision", "Orphan PR: model vs baselines and Bayes limit",
                  directory / "orphan_pr.png")
    _lines_figure(tables["calibration"], "confidence_bin", "accuracy", "Calibration (top label)",
                  directory / "calibration.png", diagonal=True)
    _importance_figure(tables["feature_importance"], directory / "feature_importance.png")


def _confusion_figure(table: pd.DataFrame, classes: tuple[str, ...], path: Path) -> None:
    matrix = pd.crosstab(table["actual"], table["predicted"]).reindex(index=classes, columns=classes, fill_value=0)
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    axis.imshow(matrix.to_numpy(), cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        axis.text(j, i, str(value), ha="center", va="center", fontsize=8)
    axis.set_xticks(range(len(classes)), classes)
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("actual")
    axis.set_title("Confusion matrix (test, tuned orphan threshold)")
    _save(figure, path)


def _lines_figure(table: pd.DataFrame, x: str, ylabel: str, title: str, path: Path, diagonal: bool = False) -> None:
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    for column in table.columns.drop(x):
        if table[column].notna().any():
            axis.plot(table[x], table[column], label=column)
    if diagonal:
        axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axis.set_xlabel(x)
    axis.set_ylabel(ylabel)
    axis.set_ylim(0, 1.02)
    axis.set_title(title)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=8)
    _save(figure, path)


def _importance_figure(table: pd.DataFrame, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(5.5, 6))
    axis.barh(table["feature"][::-1], table["importance"][::-1])
    axis.set_title("CatBoost feature importance (top 25)")
    _save(figure, path)


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
