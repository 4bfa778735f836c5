"""`train.strategy: two_stage`: an orphan-vs-rest CatBoost with focal loss, then the common classes.

P(orphan) = p from the first model; P(common class k) = (1 - p) * q_k from the second, trained on non-orphan visits.
The two tree ensembles and the combination are exported as one ONNX graph (see onnx_export.py). Orphan is the last
of the product's classes, so it is the last output column; the strategy needs a contract with an orphan class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from triage.contract import Contract
from triage.model.estimators import catboost_classifier, preprocessing
from triage.model.knowledge import KnowledgeBinding


class TwoStageClassifier(ClassifierMixin, BaseEstimator):
    def __init__(self, settings: dict[str, Any] | None = None, seed: int = 0, n_classes: int = 5):
        self.settings = settings
        self.seed = seed
        self.n_classes = n_classes

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
            eval_set: tuple[np.ndarray, np.ndarray] | None = None) -> TwoStageClassifier:
        settings = self.settings or {}
        weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        orphan_index = self.n_classes - 1
        focal = f"Focal:focal_alpha={settings['focal_alpha']};focal_gamma={settings['focal_gamma']}"
        orphan = y == orphan_index
        self.orphan_model_ = catboost_classifier(settings, self.seed, loss_function=focal)
        self.orphan_model_.fit(x, orphan.astype(int), sample_weight=weight,
                               eval_set=None if eval_set is None else (eval_set[0], eval_set[1] == orphan_index))
        self.common_model_ = catboost_classifier(settings, self.seed)
        common_eval = None if eval_set is None else (eval_set[0][eval_set[1] != orphan_index],
                                                     eval_set[1][eval_set[1] != orphan_index])
        self.common_model_.fit(x[~orphan], y[~orphan], sample_weight=weight[~orphan], eval_set=common_eval)
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p_orphan = self.orphan_model_.predict_proba(x)[:, 1]
        common = self.common_model_.predict_proba(x)
        return np.column_stack([common * (1 - p_orphan)[:, None], p_orphan])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def get_evals_result(self) -> dict:
        curves: dict[str, dict] = {}
        for prefix, model in (("", self.common_model_), ("orphan_", self.orphan_model_)):
            for part, metrics in model.get_evals_result().items():
                curves.setdefault(part, {}).update({prefix + name: values for name, values in metrics.items()})
        return curves

    def get_feature_importance(self) -> np.ndarray:
        return (np.asarray(self.orphan_model_.get_feature_importance())
                + np.asarray(self.common_model_.get_feature_importance())) / 2


def two_stage_pipeline(contract: Contract, settings: dict[str, Any], seed: int,
                       knowledge: KnowledgeBinding | None = None) -> Pipeline:
    if not contract.has_orphan:
        raise ValueError(f"train.strategy 'two_stage' separates the orphan class first, and the contract "
                         f"{contract.path} has none: use 'multiclass'")
    return Pipeline([("preprocess", preprocessing(contract, knowledge)),
                     ("model", TwoStageClassifier(settings, seed, len(contract.classes)))])
