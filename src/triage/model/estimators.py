"""Model builders: the CatBoost pipeline that is exported, and the baselines every report compares against."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from triage.contract import Contract
from triage.model.knowledge import FEATURE_NAMES as KNOWLEDGE_FEATURES
from triage.model.knowledge import KnowledgeBinding, knowledge_transformer

IMPUTERS = {"median": dict(strategy="median"), "most_frequent": dict(strategy="most_frequent"),
            "zero": dict(strategy="constant", fill_value=0.0)}


def imputation_groups(contract: Contract) -> list[tuple[str, list[str]]]:
    """Features by imputation strategy, in a fixed order (numbers, categories, binary signs): (strategy, names).
    The transformer's output columns follow this order."""
    order = [*contract.numeric_names, *contract.category_names, *contract.binary_names]
    groups: dict[str, list[str]] = {}
    for name in order:
        groups.setdefault(contract.features[name].impute, []).append(name)
    return list(groups.items())


def preprocessed_features(contract: Contract) -> list[str]:
    return [name for _, names in imputation_groups(contract) for name in names]


def model_input_names(pipeline: Pipeline, contract: Contract) -> list[str]:
    """The columns the classifier sees: the imputed features, then the knowledge features when the pipeline has
    them (see triage.model.knowledge)."""
    preprocess = pipeline.named_steps["preprocess"]
    extra = list(KNOWLEDGE_FEATURES) if "knowledge" in preprocess.named_transformers_ else []
    return [*preprocessed_features(contract), *extra]


def preprocessing(contract: Contract, knowledge: KnowledgeBinding | None = None) -> ColumnTransformer:
    """Imputation inside the exported graph, as the contract says per feature (defaults: medians for numbers, the
    most frequent category, 'absent' for binary signs). Integer column positions, so the ONNX graph has one float
    input [N, n_features] in contract order. An all-empty column is kept (imputed 0) rather than dropped, so the
    output width never changes under the model's feet; the split stage refuses such a feature before training.
    With a knowledge binding, the knowledge features of the HPO-coded signs follow the imputed columns."""
    positions = {name: i for i, name in enumerate(contract.feature_names)}
    steps = [(strategy, SimpleImputer(keep_empty_features=True, **IMPUTERS[strategy]), [positions[n] for n in names])
             for strategy, names in imputation_groups(contract)]
    if knowledge is not None:
        steps.append(("knowledge", knowledge_transformer(knowledge), list(knowledge.positions)))
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)


def catboost_classifier(settings: dict[str, Any], seed: int, **overrides: Any) -> CatBoostClassifier:
    # use_best_model off: the number of trees is a hyperparameter (triage search), the validation part is for the
    # orphan threshold and the training curve only
    options = dict(iterations=settings["iterations"], depth=settings["depth"],
                   learning_rate=settings["learning_rate"], l2_leaf_reg=settings["l2_leaf_reg"],
                   loss_function="MultiClass", random_seed=seed, thread_count=settings["threads"],
                   allow_writing_files=False, verbose=settings.get("progress_every", False), use_best_model=False)
    options.update(overrides)
    return CatBoostClassifier(**options)


def triage_pipeline(contract: Contract, settings: dict[str, Any], seed: int,
                    knowledge: KnowledgeBinding | None = None) -> Pipeline:
    return Pipeline([("preprocess", preprocessing(contract, knowledge)),
                     ("model", catboost_classifier(settings, seed))])


def logistic_baseline(contract: Contract, c: float, seed: int) -> Pipeline:
    """Multinomial logistic regression fitted by SAG: its sums are plain loops in the order of the seeded sample
    sequence. The default lbfgs solver runs on OpenBLAS (X @ w, gradients, L-BFGS-B's dot products), whose kernel
    (SkylakeX, Haswell...) and thread split are chosen per CPU and sum in other orders; lbfgs stops on a tolerance,
    so those last bits moved the fitted coefficients and the baseline's metrics from one machine to the next."""
    return Pipeline([("preprocess", preprocessing(contract)), ("scale", StandardScaler()),
                     ("model", LogisticRegression(C=c, class_weight="balanced", solver="sag", max_iter=500,
                                                  random_state=seed))])


def forest_baseline(contract: Contract, trees: int, seed: int, threads: int) -> Pipeline:
    """A random forest on the original (not resampled, unweighted) training part. Each tree is seeded, so the fit is
    the same with any number of threads; predicting, see training.single_threaded_prediction."""
    return Pipeline([("preprocess", preprocessing(contract)),
                     ("model", RandomForestClassifier(n_estimators=trees, min_samples_leaf=3, max_depth=18,
                                                      n_jobs=threads, random_state=seed))])


RULE_PAINS = ("sx_headache", "sx_myalgia", "sx_arthralgia", "sx_back_pain", "sx_chest_pain", "sx_abdominal_pain",
              "sx_sore_throat", "sx_ear_pain")
RULE_COLUMNS = ("temperature_c", "sx_fever", "symptom_days", *RULE_PAINS)


def rule_applies(contract: Contract) -> bool:
    """The prototype's rule reads the simulated contract's columns and the five product classes."""
    return set(RULE_COLUMNS) <= set(contract.feature_names) and len(contract.classes) == 5


def rule_scores(frame: pd.DataFrame, red_flags: tuple[str, ...]) -> np.ndarray:
    """The original prototype's fever / pain / days rule, reimplemented, as class scores (rows sum to one).

    score = fever (temperature >= 38 or reported) + pain (any pain symptom) + duration (days > 14, > 180); more
    than two red flags with a long duration points to an orphan disease. The rule has no probabilities: its
    scores are softened one-hot votes so that ranking metrics (ROC, PR) can be computed for it.
    """
    fever = (frame["temperature_c"].fillna(36.8) >= 38) | (frame["sx_fever"].fillna(0) == 1)
    pain = frame[list(RULE_PAINS)].fillna(0).sum(axis=1) > 0
    days = frame["symptom_days"]
    red_flag_count = frame[list(red_flags)].fillna(0).sum(axis=1)
    score = fever.astype(int) + pain.astype(int) + (days > 14).astype(int)
    klass = np.select([(red_flag_count >= 2) & (days > 30), days > 180, score >= 2, score == 1],
                      [4, 3, 2, 1], default=0)
    soft = 0.05 + 0.01 * np.clip(red_flag_count.to_numpy()[:, None], 0, 5) * (np.arange(5) == 4)
    scores = np.where(np.arange(5)[None, :] == klass[:, None], 0.8, soft)
    return scores / scores.sum(axis=1, keepdims=True)
