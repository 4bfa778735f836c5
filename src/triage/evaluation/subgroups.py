"""Recall per subgroup (the contract's `subgroups`, and the site), counted batch by batch: for each subgroup value
and class, the test cases and those the served decision got right."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from triage.contract import Contract, NumericFeature
from triage.data.columns import SITE_ID
from triage.evaluation.metrics import proportion_interval


def band_labels(values: pd.Series, bands: tuple[float, ...], integer: bool) -> pd.Series:
    """Lower edges [0, 2, 12] -> '0-1', '2-11', '12+' (integers) or '0-<2', '2-<12', '12+'."""
    labels = pd.Series("unknown", index=values.index, dtype=object)
    labels[values < bands[0]] = f"<{bands[0]:g}"
    for low, high in zip(bands, bands[1:], strict=False):
        name = f"{low:g}-{high - 1:g}" if integer else f"{low:g}-<{high:g}"
        labels[(values >= low) & (values < high)] = name
    labels[values >= bands[-1]] = f"{bands[-1]:g}+"
    return labels


def subgroup_values(batch: pd.DataFrame, contract: Contract) -> dict[str, pd.Series]:
    groups: dict[str, pd.Series] = {}
    for name, subgroup in contract.spec.subgroups.items():
        feature = contract.features[name]
        if isinstance(feature, NumericFeature):
            groups[name] = band_labels(batch[name], subgroup.bands, feature.type == "int")
        else:
            groups[name] = batch[name].astype(str)
    if SITE_ID in batch.columns:
        groups["site"] = batch[SITE_ID].astype(str)
    return groups


class SubgroupCounts:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.counts: dict[str, dict[str, np.ndarray]] = defaultdict(dict)  # name -> value -> [class][cases, right]

    def add(self, batch: pd.DataFrame, y: np.ndarray, decided: np.ndarray) -> None:
        n_classes = len(self.contract.classes)
        right = (decided == y).astype(np.float64)
        for name, values in subgroup_values(batch, self.contract).items():
            codes, uniques = pd.factorize(values, sort=True)
            cells = codes * n_classes + y
            cases = np.bincount(cells, minlength=len(uniques) * n_classes).reshape(-1, n_classes)
            hits = np.bincount(cells, right, len(uniques) * n_classes).reshape(-1, n_classes).astype(np.int64)
            for index, value in enumerate(uniques):
                table = self.counts[name].setdefault(str(value), np.zeros((n_classes, 2), np.int64))
                table += np.column_stack([cases[index], hits[index]])

    def report(self, orphan: int | None) -> dict:
        out: dict = {}
        for name, tables in self.counts.items():
            out[name] = {value: self.entry(tables[value], orphan) for value in sorted(tables)}
        return out

    @staticmethod
    def entry(table: np.ndarray, orphan: int | None) -> dict:
        cases, right = table[:, 0], table[:, 1]
        present = cases > 0
        entry = {"n": int(cases.sum()), "macro_recall": float((right[present] / cases[present]).mean())}
        if orphan is not None:
            entry.update(orphan_n=int(cases[orphan]),
                         orphan_recall=float(right[orphan] / cases[orphan]) if cases[orphan] else float("nan"),
                         orphan_recall_ci=list(proportion_interval(int(right[orphan]), int(cases[orphan]))))
        return entry
