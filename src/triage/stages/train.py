"""Stage `train`: the CatBoost triage pipeline (multiclass or two-stage) and the baselines (triage.model.training).

With `knowledge.enabled`, the pipeline computes knowledge features from the reference phenotype table
(triage.model.knowledge) for contracts whose binary features carry HPO codes.

The served orphan threshold is cross-fitted here (triage.model.crossfit): tuned on out-of-fold probabilities of the
training and validation parts together, grouped by patient, so it rests on every orphan case available for learning.

Training curves (the CatBoost loss on train and validation) are logged with dvclive to reports/train/, so
`dvc exp show` and `dvc plots` see them.
"""

from __future__ import annotations

import time

import joblib
import pandas as pd
from dvclive import Live

from triage import config
from triage.contract import contract_from_params
from triage.data.columns import LABEL_COLUMN, PATIENT_ID
from triage.data.resample import read_class_aware_sample
from triage.model.crossfit import crossfit_orphan_threshold
from triage.model.knowledge import knowledge_from_params
from triage.model.training import CURVE_EVERY, fit_baselines, fit_triage_model, training_curves

log = config.stage_logger("train")


def log_curves(model, live: Live) -> None:
    metric, train_curve, valid_curve = training_curves(model)
    if metric is None:
        return
    for step in range(0, len(train_curve), CURVE_EVERY):
        live.step = step
        live.log_metric(f"train/{metric}", train_curve[step], plot=True)
        if valid_curve:
            live.log_metric(f"valid/{metric}", valid_curve[step], plot=True)
    live.log_metric(f"train/{metric}", train_curve[-1], plot=False)


def sample_columns(contract) -> list[str]:
    return [*contract.feature_names, LABEL_COLUMN, PATIENT_ID]


def fit_model(params: dict, contract, knowledge):
    """The served pipeline on the resampled training part; the validation part (a class-aware sample of it at
    most train.max_rows) gives CatBoost's evaluation curve. The frames are gone when it returns."""
    settings, seed = params["train"], params["base"]["seed"]
    train = pd.read_parquet(config.TRAIN_RESAMPLED)
    log.info("training CatBoost (%s, %d iterations, depth %d) on %d rows", settings["strategy"],
             settings["iterations"], settings["depth"], len(train))
    curve_rows = read_class_aware_sample([config.VALID], settings.get("max_rows"), seed, sample_columns(contract))
    return fit_triage_model(train, curve_rows, contract, settings, seed, knowledge)


def fit_baseline_models(params: dict, contract) -> dict:
    """The baselines on a class-aware sample of the training part: at most train.baselines.max_rows (a forest's
    size grows with its rows; a baseline needs no more to show where the model stands), and at most train.max_rows."""
    settings, seed = params["train"], params["base"]["seed"]
    caps = [cap for cap in (settings.get("max_rows"), settings["baselines"].get("max_rows")) if cap]
    rows = read_class_aware_sample([config.TRAIN], min(caps) if caps else None, seed, sample_columns(contract))
    return fit_baselines(rows, contract, settings, seed)


def cross_fitted_threshold(params: dict, contract, knowledge):
    development = read_class_aware_sample([config.TRAIN, config.VALID], params["train"].get("max_rows"),
                                          params["base"]["seed"], sample_columns(contract))
    return crossfit_orphan_threshold(development, contract, params, knowledge, log.info)


def main() -> None:
    params = config.load_params()
    contract = contract_from_params(params)
    knowledge = knowledge_from_params(params, contract)
    log.info("knowledge features: %s", knowledge.describe() if knowledge else "off (disabled, or no HPO-coded "
             "binary feature of the contract is in the table)")
    started = time.perf_counter()
    pipeline = fit_model(params, contract, knowledge)
    log.info("CatBoost done in %.1f s; fitting baselines (logistic regression, random forest)",
             time.perf_counter() - started)
    baselines = fit_baseline_models(params, contract)
    threshold = cross_fitted_threshold(params, contract, knowledge)
    if threshold is not None:
        log.info("orphan threshold %.4f, cross-fitted on %d out-of-fold orphan cases (%d folds)", threshold.value,
                 threshold.orphan_cases, threshold.folds)
    config.MODELS.mkdir(parents=True, exist_ok=True)
    joblib.dump({"pipeline": pipeline, "classes": list(contract.classes), "features": list(contract.feature_names),
                 "contract_sha256": contract.sha256, "knowledge": knowledge.describe() if knowledge else None,
                 "orphan_threshold": threshold.describe() if threshold else None},
                config.MODEL_BUNDLE)
    joblib.dump(baselines, config.BASELINES_BUNDLE, compress=3)
    with Live(str(config.REPORTS / "train"), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        log_curves(pipeline.named_steps["model"], live)
    log.info("saved %s and %s after %.1f s", config.MODEL_BUNDLE, config.BASELINES_BUNDLE,
             time.perf_counter() - started)


if __name__ == "__main__":
    main()
