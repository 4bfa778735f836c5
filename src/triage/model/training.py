"""Fitting the triage pipeline (multiclass or two-stage CatBoost behind the contract's imputation) and the baselines.

Reproducible to the bit: seeds and thread counts come from params, and CatBoost's model metadata that is not a
function of the inputs (the training finish time and a random model guid) is removed before the model is saved, so a
fresh clone's `dvc repro` gives the same pipeline file as the committed dvc.lock says.
"""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from triage.contract import Contract
from triage.data.resample import INCLUSION_WEIGHT
from triage.model.estimators import forest_baseline, logistic_baseline, triage_pipeline
from triage.model.features import class_targets, feature_matrix
from triage.model.knowledge import KnowledgeBinding
from triage.model.two_stage import two_stage_pipeline

CURVE_EVERY = 10  # log one training-curve point every N boosting iterations
NON_DETERMINISTIC_METADATA = ("train_finish_time", "model_guid")


def fit_triage_model(train: pd.DataFrame, valid: pd.DataFrame | None, contract: Contract, settings: dict,
                     seed: int, knowledge: KnowledgeBinding | None = None) -> Pipeline:
    """The exported pipeline, fitted on the resampled training part with its sample weights; the validation part
    (if given) gives CatBoost's evaluation curve. With a knowledge binding, the knowledge features are computed in
    the pipeline (their background rates fitted on the training part)."""
    x, y = feature_matrix(train, contract), class_targets(train, contract.classes)
    weights = train["sample_weight"].to_numpy()
    if settings["strategy"] == "multiclass":
        pipeline = triage_pipeline(contract, settings, seed, knowledge)
    elif settings["strategy"] == "two_stage":
        pipeline = two_stage_pipeline(contract, settings, seed, knowledge)
    else:
        raise ValueError(f"train.strategy must be 'multiclass' or 'two_stage', got {settings['strategy']!r}")
    preprocess = pipeline.named_steps["preprocess"].fit(x)
    eval_set = None if valid is None else (preprocess.transform(feature_matrix(valid, contract)),
                                           class_targets(valid, contract.classes))
    pipeline.named_steps["model"].fit(preprocess.transform(x), y, sample_weight=weights, eval_set=eval_set)
    strip_run_metadata(pipeline.named_steps["model"])
    return pipeline


def strip_run_metadata(model) -> None:
    """Drop CatBoost metadata that differs from run to run (also inside the two-stage model's two ensembles)."""
    for booster in (getattr(model, "orphan_model_", None), getattr(model, "common_model_", None), model):
        if booster is None or not hasattr(booster, "get_metadata"):
            continue
        metadata = booster.get_metadata()
        for key in NON_DETERMINISTIC_METADATA:
            if key in metadata:
                del metadata[key]


def fit_baselines(original: pd.DataFrame, contract: Contract, settings: dict, seed: int) -> dict[str, Pipeline]:
    """Logistic regression and a random forest on the original (not resampled) training part, the same bits on
    every CPU: the logistic regression's solver does not use BLAS (triage.model.estimators.logistic_baseline), and
    any BLAS call left in the fits runs on one thread, so no thread split can change a sum's order."""
    x, y = feature_matrix(original, contract), class_targets(original, contract.classes)
    # a class-aware sample (train.max_rows): the forest weights each kept row by its inverse inclusion probability,
    # so it sees the population's class balance; the logistic regression balances classes itself ("balanced")
    inclusion = original.get(INCLUSION_WEIGHT)
    forest_fit = {} if inclusion is None or (inclusion == 1.0).all() else {"model__sample_weight": inclusion.to_numpy()}
    with threadpool_limits(limits=1, user_api="blas"):
        logistic = logistic_baseline(contract, settings["baselines"]["logreg_c"], seed).fit(x, y)
        forest = forest_baseline(contract, settings["baselines"]["forest_trees"], seed, settings["threads"]).fit(
            x, y, **forest_fit)
    return {"logistic_regression": logistic, "random_forest": single_threaded_prediction(forest)}


def single_threaded_prediction(forest: Pipeline) -> Pipeline:
    """The forest predicts on one thread: with several, each thread adds its trees' probabilities into the shared
    sum as it finishes, so the order of the additions (and the last bits of every probability) changes from run to
    run and with the number of cores. Fitting keeps its threads (each tree is seeded)."""
    return forest.set_params(model__n_jobs=1)


def training_curves(model) -> tuple[str | None, list[float], list[float]]:
    """(metric, training curve, validation curve) as CatBoost recorded them (none for other estimators)."""
    curves = model.get_evals_result() if hasattr(model, "get_evals_result") else {}
    train_curve, valid_curve = curves.get("learn", {}), curves.get("validation", {})
    metric = next(iter(train_curve), None)
    if metric is None:
        return None, [], []
    return metric, list(train_curve[metric]), list(valid_curve.get(metric, []))
