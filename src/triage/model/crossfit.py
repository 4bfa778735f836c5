"""Cross-fitting on the training and validation parts together: patient-grouped, class-stratified folds, each fold
resampled and fitted as the `resample` and `train` stages do, and the held-out fold scored.

Two users: the `train` stage tunes the served orphan threshold on the out-of-fold probabilities, so the threshold
rests on every orphan case the model may learn from rather than on the validation part alone (a hospital's rare
class may have a handful of validation cases); and the hyperparameter search (triage.search.cv) scores trials fold
by fold. Folds are grouped by patient (no patient on both sides of a fold) and stratified by class
(StratifiedGroupKFold), so a rare class with few patients is spread over the folds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from triage.contract import Contract
from triage.data.columns import LABEL_COLUMN, PATIENT_ID
from triage.data.resample import resample
from triage.model.features import class_targets, feature_matrix
from triage.model.knowledge import KnowledgeBinding
from triage.model.threshold import tune_orphan_threshold
from triage.model.training import fit_triage_model

Folds = list[tuple[np.ndarray, np.ndarray]]


def patient_folds(frame: pd.DataFrame, folds: int, seed: int) -> Folds:
    """(training rows, held-out rows) per fold: grouped by patient, stratified by class."""
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    groups = frame[PATIENT_ID].astype(str).to_numpy() if PATIENT_ID in frame else np.arange(len(frame))
    return list(splitter.split(np.zeros(len(frame)), frame[LABEL_COLUMN].astype(str).to_numpy(), groups))


def fold_probabilities(frame: pd.DataFrame, contract: Contract, params: dict[str, Any], settings: dict[str, Any],
                       folds: Folds, knowledge: KnowledgeBinding | None
                       ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(held-out rows, their class probabilities) per fold, from a pipeline fitted on the fold's other rows."""
    seed, quiet = params["base"]["seed"], {**settings, "progress_every": False}
    for train_rows, held_rows in folds:
        part = frame.iloc[train_rows]
        resampled = resample(part, contract, params["resample"], settings["class_weight_power"], seed)
        pipeline = fit_triage_model(resampled, None, contract, quiet, seed, knowledge)
        yield held_rows, pipeline.predict_proba(feature_matrix(frame.iloc[held_rows], contract))


@dataclass(frozen=True)
class CrossFittedThreshold:
    value: float
    folds: int
    rows: int
    orphan_cases: int  # the out-of-fold orphan cases the threshold was tuned on

    def describe(self) -> dict[str, Any]:
        return {"value": self.value, "method": "cross-fitted", "folds": self.folds, "rows": self.rows,
                "orphan_cases": self.orphan_cases}


def crossfit_orphan_threshold(frame: pd.DataFrame, contract: Contract, params: dict[str, Any],
                              knowledge: KnowledgeBinding | None,
                              progress: Callable[[str], None] = lambda _: None) -> CrossFittedThreshold | None:
    """The served orphan threshold, tuned (evaluate.orphan_recall_target raised by threshold_z standard errors) on
    out-of-fold probabilities of the development rows (`frame`: train + validation). None without an orphan class."""
    orphan = contract.orphan_index
    if orphan is None:
        return None
    settings, n_folds = params["evaluate"], int(params["evaluate"]["threshold_folds"])
    folds = patient_folds(frame, n_folds, params["base"]["seed"])
    out_of_fold = np.zeros((len(frame), len(contract.classes)))
    for number, (held_rows, probabilities) in enumerate(
            fold_probabilities(frame, contract, params, params["train"], folds, knowledge), start=1):
        out_of_fold[held_rows] = probabilities
        progress(f"threshold cross-fit: fold {number} of {n_folds} done ({len(held_rows)} held-out rows)")
    y = class_targets(frame, contract.classes)
    value = tune_orphan_threshold(y, out_of_fold, settings["orphan_recall_target"], settings["threshold_z"], orphan)
    return CrossFittedThreshold(value, n_folds, len(frame), int((y == orphan).sum()))
