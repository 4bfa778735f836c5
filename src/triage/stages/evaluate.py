"""Stage `evaluate`: test-set metrics with their intervals, subgroups, plot tables and figures (triage.evaluation),
and the provenance the gate checks them against (the contract's sha256 and evaluate's params). The Bayes limit is
computed on the simulated cohort only."""

from __future__ import annotations

import joblib
import pandas as pd

from triage import config
from triage.contract import contract_from_params
from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, SITE_ID
from triage.data.parts import batches
from triage.data.split import read_holdout
from triage.evaluation.evaluate import evaluate
from triage.evaluation.plots import write_figures, write_plot_tables
from triage.evaluation.provenance import provenance
from triage.model.estimators import model_input_names
from triage.tables import write_json

log = config.stage_logger("evaluate")


def evaluation_columns(contract) -> list[str]:
    """The features, the label, the outcome code (held-out diseases) and the site (subgroups, the Bayes limit)."""
    site = [SITE_ID] if contract.spec.context.site else []
    return [*contract.feature_names, LABEL_COLUMN, OUTCOME_CODE, *site]


def generative_model(params: dict):
    """The simulator's generative model (the exact Bayes posterior), when the data is the simulated cohort."""
    if not (config.simulating(params) and config.GENERATIVE_MODEL.exists()):
        return None
    from triage.simulation.generative import GenerativeModel

    return GenerativeModel.load(config.GENERATIVE_MODEL)


def main() -> None:
    params = config.load_params()
    settings, seed = params["evaluate"], params["base"]["seed"]
    contract = contract_from_params(params)
    bundle = joblib.load(config.MODEL_BUNDLE)
    pipeline = bundle["pipeline"]
    columns = evaluation_columns(contract)  # no identifiers: memory for what is scored and grouped by
    log.info("scoring the test part in batches; bootstrap intervals over %d Poisson resamples", settings["bootstrap"])
    metrics, subgroups, tallies = evaluate(settings, seed, bundle, joblib.load(config.BASELINES_BUNDLE),
                                           batches(config.VALID, columns),
                                           batches(config.TEST, columns), contract,
                                           read_holdout(params["split"].get("holdout_file")), generative_model(params),
                                           progress=log.info)
    metrics["provenance"] = provenance(params, contract.sha256)
    write_json(metrics, config.METRICS)
    write_json(subgroups, config.REPORTS / "subgroups.json")
    importance = pd.Series(pipeline.named_steps["model"].get_feature_importance(),
                           index=model_input_names(pipeline, contract))
    tables = write_plot_tables(tallies, importance, contract, config.REPORTS / "plots")
    write_figures(tables, tallies["model"].decided, contract, config.REPORTS / "figures")
    model = metrics["model"]
    log.info("%d test rows scored", metrics["test_rows"])
    log.info("macro-F1 %.3f (Bayes %s), ROC-AUC %.3f, review share %.3f", model["macro_f1"],
             metrics.get("bayes_limit", {}).get("macro_f1", "n/a"), model["roc_auc_ovr_macro"],
             model["specialist_review_share"])
    if contract.has_orphan:
        log.info("orphan recall %.3f %s at precision %.3f (threshold %.4f)", model["orphan_recall"],
                 model["orphan_recall_ci"], model["orphan_precision"], model["orphan_threshold"])
    else:
        log.info("no orphan class in contract %s: no orphan decision", contract.name)


if __name__ == "__main__":
    main()
