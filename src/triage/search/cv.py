"""Cross-validation of training settings on the training and validation parts together, never the test part.

The folds and the fitting per fold are triage.model.crossfit's (patient-grouped, class-stratified; each fold
resampled and fitted as the stages do, knowledge features included), the same the `train` stage cross-fits the orphan
threshold with. The held-out fold is scored: macro-F1 (most probable class), and, when the data has an orphan
class, orphan precision at the recall target (the precision-recall curve's best precision among thresholds reaching
it) and orphan PR-AUC. Every trial is scored on the same folds, so two trials compare fold by fold (`paired_gain`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score

from triage import config
from triage.contract import Contract
from triage.data.parts import read_frame
from triage.evaluation.metrics import precision_at_recall
from triage.model.crossfit import Folds, fold_probabilities
from triage.model.features import class_targets
from triage.model.knowledge import KnowledgeBinding


@dataclass(frozen=True)
class FoldScore:
    macro_f1: float
    orphan_precision_at_target: float | None
    orphan_pr_auc: float | None


def development_rows() -> pd.DataFrame:
    """The training and validation parts (the split stage's outputs), never the test part."""
    return pd.concat([read_frame(config.TRAIN), read_frame(config.VALID)], ignore_index=True)


def score_fold(y: np.ndarray, probabilities: np.ndarray, orphan: int | None, recall_target: float) -> FoldScore:
    macro = float(f1_score(y, probabilities.argmax(axis=1), average="macro",
                           labels=list(range(probabilities.shape[1])), zero_division=0))
    if orphan is None or not (y == orphan).any():
        return FoldScore(macro, None, None)
    positive = y == orphan
    return FoldScore(macro, precision_at_recall(y, probabilities[:, orphan], recall_target, orphan),
                     float(average_precision_score(positive, probabilities[:, orphan])))


def cross_validate(frame: pd.DataFrame, contract: Contract, params: dict[str, Any], settings: dict[str, Any],
                   folds: Folds, knowledge: KnowledgeBinding | None) -> dict[str, Any]:
    """Fold means of the scores of `settings` (the `train` params with a trial's values), and the objective:
    orphan precision at the recall target (macro-F1 when the data has no orphan class)."""
    target = params["evaluate"]["orphan_recall_target"]
    y = class_targets(frame, contract.classes)
    scores = [score_fold(y[held_rows], probabilities, contract.orphan_index, target)
              for held_rows, probabilities in fold_probabilities(frame, contract, params, settings, folds, knowledge)]
    result: dict[str, Any] = {"macro_f1": float(np.mean([s.macro_f1 for s in scores]))}
    if contract.orphan_index is not None:
        result["orphan_precision_at_target"] = float(np.mean([s.orphan_precision_at_target for s in scores]))
        result["orphan_pr_auc"] = float(np.mean([s.orphan_pr_auc for s in scores]))
    per_fold = [s.macro_f1 if s.orphan_precision_at_target is None else s.orphan_precision_at_target for s in scores]
    result["objective"] = result.get("orphan_precision_at_target", result["macro_f1"])
    result["objective_folds"] = [round(v, 6) for v in per_fold]
    return result


def paired_gain(candidate: list[float], reference: list[float]) -> tuple[float, float]:
    """Mean gain of a candidate over a reference scored on the same folds, and its standard error."""
    gains = np.asarray(candidate) - np.asarray(reference)
    if len(gains) < 2:
        return float(gains.mean()), float("nan")
    return float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(len(gains)))
