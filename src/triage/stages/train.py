"""Stage `train`: the CatBoost triage pipeline (multiclass or two-stage) and the baselines.

Training curves (multiclass log-loss on train and validation) are logged with dvclive to reports/train/, so
`dvc exp show` and `dvc plots` see them.
"""

from __future__ import annotations

import time

import joblib
import pandas as pd
from dvclive import Live

from triage import config
from triage.contract import Contract, contract_from_params
from triage.features import class_targets, feature_matrix
from triage.modeling import forest_baseline, logistic_baseline, triage_pipeline
from triage.two_stage import two_stage_pipeline

CURVE_EVERY = 10  # log one training-curve point every N boosting iterations
log = config.stage_logger("train")


def fit_triage_model(train: pd.DataFrame, valid: pd.DataFrame, contract: Contract, settings: dict, seed: int):
    x, y = feature_matrix(train, contract), class_targets(train, contract.classes)
    weights = train["sample_weight"].to_numpy()
    if settings["strategy"] == "multiclass":
        pipeline = triage_pipeline(contract, settings, seed)
    elif settings["strategy"] == "two_stage":
        pipeline = two_stage_pipeline(contract, settings, seed)
    else:
        raise ValueError(f"train.strategy must be 'multiclass' or 'two_stage', got {settings['strategy']!r}")
    preprocess = pipeline.named_steps["preprocess"].fit(x)
    eval_set = (preprocess.transform(feature_matrix(valid, contract)), class_targets(valid, contract.classes))
    pipeline.named_steps["model"].fit(preprocess.transform(x), y, sample_weight=weights, eval_set=eval_set)
    return pipeline


def log_curves(model, live: Live) -> None:
    curves = model.get_evals_result() if hasattr(model, "get_evals_result") else {}
    train_curve = curves.get("learn", {})
    valid_curve = curves.get("validation", {})
    metric = next(iter(train_curve), None)
    if metric is None:
        return
    for step in range(0, len(train_curve[metric]), CURVE_EVERY):
        live.step = step
        live.log_metric(f"train/{metric}", train_curve[metric][step], plot=True)
        if metric in valid_curve:
            live.log_metric(f"valid/{metric}", valid_curve[metric][step], plot=True)
    live.log_metric(f"train/{metric}", train_curve[metric][-1], plot=False)


def main() -> None:
    params = config.load_params()
    settings, seed = params["train"], params["base"]["seed"]
    contract = contract_from_params(params)
    train = pd.read_parquet(config.TRAIN_RESAMPLED)
    original = pd.read_parquet(config.TRAIN)
    valid = pd.read_parquet(config.VALID)
    log.info("training CatBoost (%s, %d iterations, depth %d) on %d rows", settings["strategy"],
             settings["iterations"], settings["depth"], len(train))
    started = time.perf_counter()
    pipeline = fit_triage_model(train, valid, contract, settings, seed)
    log.info("CatBoost done in %.1f s; fitting baselines (logistic regression, random forest)",
             time.perf_counter() - started)
    x_original, y_original = feature_matrix(original, contract), class_targets(original, contract.classes)
    logistic = logistic_baseline(contract, settings["baselines"]["logreg_c"], seed)
    logistic.fit(x_original, y_original)
    forest = forest_baseline(contract, settings["baselines"]["forest_trees"], seed, settings["threads"])
    forest.fit(x_original, y_original)
    config.MODELS.mkdir(parents=True, exist_ok=True)
    joblib.dump({"pipeline": pipeline, "classes": list(contract.classes), "features": list(contract.feature_names),
                 "contract_sha256": contract.sha256}, config.MODEL_BUNDLE)
    joblib.dump({"logistic_regression": logistic, "random_forest": forest}, config.BASELINES_BUNDLE, compress=3)
    with Live(str(config.REPORTS / "train"), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        log_curves(pipeline.named_steps["model"], live)
    log.info("saved %s and %s after %.1f s", config.MODEL_BUNDLE, config.BASELINES_BUNDLE,
             time.perf_counter() - started)


if __name__ == "__main__":
    main()
