"""DVC plot tables (CSV, kept in git) and PNG figures (for PR comments) of the evaluation.

The tables always carry the columns dvc.yaml's plot definitions name (every product class, every method), empty where
the contract has no such class or the method does not apply, so the definitions hold for any contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from triage.contract import Contract  # noqa: E402
from triage.evaluation import curves  # noqa: E402
from triage.evaluation.tally import CALIBRATION_BINS, Tally, calibration_curve  # noqa: E402
from triage.tables import write_csv, write_csv_blocks  # noqa: E402
from triage_shared.classes import CLASSES  # noqa: E402

RECALL_GRID = np.round(np.linspace(0, 1, 51), 2)
METHODS = ("model", "logistic_regression", "random_forest", "rule", "bayes")
CONFUSION_BLOCK = 100_000  # lines written at once


def confusion_blocks(decided: np.ndarray, classes: tuple[str, ...]) -> Iterator[pd.DataFrame]:
    """One (actual, predicted) row per test visit, from the served decision's counts (DVC's confusion template
    counts rows), grouped by cell, a block at a time: the file grows with the test part, memory does not."""
    yield pd.DataFrame({"actual": [], "predicted": []})  # the header, even without rows
    for (actual, predicted), count in np.ndenumerate(decided):
        for start in range(0, int(count), CONFUSION_BLOCK):
            rows = min(CONFUSION_BLOCK, int(count) - start)
            yield pd.DataFrame({"actual": [classes[actual]] * rows, "predicted": [classes[predicted]] * rows})


def write_plot_tables(tallies: dict[str, Tally], importance: pd.Series, contract: Contract,
                      directory: Path) -> dict[str, pd.DataFrame]:
    directory.mkdir(parents=True, exist_ok=True)
    model, orphan = tallies["model"], contract.orphan_index
    empty = np.full(len(RECALL_GRID), np.nan)
    per_class = {c: curves.interpolated_precision(*model.curve_counts(k), RECALL_GRID)
                 for k, c in enumerate(contract.classes)}
    tables = {
        "pr_curves": pd.DataFrame({"recall": RECALL_GRID, **{c: per_class.get(c, empty) for c in CLASSES}}),
        "orphan_pr": pd.DataFrame({"recall": RECALL_GRID, **{
            m: curves.interpolated_precision(*tallies[m].curve_counts(orphan), RECALL_GRID)
            if orphan is not None and m in tallies else empty for m in METHODS}}),
        "calibration": calibration_table(tallies),
        "feature_importance": importance.sort_values(ascending=False).head(25).rename_axis("feature")
        .reset_index(name="importance"),
    }
    for name, table in tables.items():
        write_csv(table.round(5), directory / f"{name}.csv")
    write_csv_blocks(confusion_blocks(model.decided, contract.classes), directory / "confusion.csv")
    return tables


def calibration_table(tallies: dict[str, Tally]) -> pd.DataFrame:
    """Top-label reliability: accuracy per confidence bin, for each method with probabilities."""
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    rows = {"confidence_bin": np.round((edges[:-1] + edges[1:]) / 2, 3)}
    for method in ("model", "bayes"):
        rows[method] = calibration_curve(tallies[method].calibration) if method in tallies \
            else [np.nan] * CALIBRATION_BINS
    return pd.DataFrame(rows)


def write_figures(tables: dict[str, pd.DataFrame], decided: np.ndarray, contract: Contract, directory: Path) -> None:
    """`decided`: the model's [actual, served decision] counts on the test part."""
    directory.mkdir(parents=True, exist_ok=True)
    _confusion_figure(decided, contract.classes, directory / "confusion.png")
    _lines_figure(tables["pr_curves"], "recall", "precision", "PR curves per class (test)",
                  directory / "pr_curves.png")
    _lines_figure(tables["orphan_pr"], "recall", "precision", "Orphan PR: model vs baselines and Bayes limit",
                  directory / "orphan_pr.png")
    _lines_figure(tables["calibration"], "confidence_bin", "accuracy", "Calibration (top label)",
                  directory / "calibration.png", diagonal=True)
    _importance_figure(tables["feature_importance"], directory / "feature_importance.png")


def _confusion_figure(matrix: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    axis.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
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
