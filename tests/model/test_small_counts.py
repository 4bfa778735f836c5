"""A hospital's rare class is small: an extract with 16 orphan cases, 3 of them in the test part, goes through the
stages' own functions (split, resample, train, the cross-fitted threshold, evaluate), and the gate says
"insufficient evidence" instead of passing on a handful of cases, with exact intervals that stay honest at 3 of 3."""

from __future__ import annotations

import copy

import pandas as pd

from triage.data.columns import LABEL_COLUMN
from triage.data.resample import resample
from triage.data.split import split
from triage.evaluation.evaluate import evaluate
from triage.model.crossfit import crossfit_orphan_threshold
from triage.model.training import fit_triage_model
from triage.release.gate import check_gate
from triage.tables import frame_batches


def small_extract(labelled_cohort: pd.DataFrame, orphan_cases: int) -> pd.DataFrame:
    orphan = labelled_cohort[LABEL_COLUMN] == "orphan"
    return pd.concat([labelled_cohort[~orphan], labelled_cohort[orphan].head(orphan_cases)], ignore_index=True)


def test_three_orphan_test_cases_give_insufficient_evidence_and_an_honest_bound(labelled_cohort, small_settings,
                                                                                params, contract):
    settings = copy.deepcopy(params)
    settings["train"] = {**small_settings, "iterations": 60, "progress_every": False}
    settings["evaluate"] = {**params["evaluate"], "bootstrap": 20}
    seed = params["base"]["seed"]
    parts = split(small_extract(labelled_cohort, 16), params["split"], seed, set(), contract.classes)
    in_test = int((parts["test"][LABEL_COLUMN] == "orphan").sum())
    assert in_test == 3  # a handful, as at a single hospital
    resampled = resample(parts["train"], contract, params["resample"], settings["train"]["class_weight_power"], seed)
    pipeline = fit_triage_model(resampled, None, contract, settings["train"], seed)
    development = pd.concat([parts["train"], parts["valid"]], ignore_index=True)
    threshold = crossfit_orphan_threshold(development, contract, settings, None)
    assert threshold is not None and threshold.orphan_cases == 16 - in_test
    metrics, _, _ = evaluate(settings["evaluate"], seed, {"pipeline": pipeline,
                                                          "orphan_threshold": threshold.describe()},
                             {}, frame_batches(parts["valid"]), frame_batches(parts["test"]), contract, set(), None)
    assert metrics["evidence"]["test_cases"]["orphan"] == in_test
    low, high = metrics["model"]["orphan_recall_ci"]
    assert low < 0.75 and metrics["model"]["orphan_recall_lower"] == low  # exact: never [1.0, 1.0] from 3 cases
    lines = [str(line) for line in check_gate(metrics, params["gate"])]
    assert f"FAIL  evidence orphan: insufficient evidence (n = {in_test} test cases; minimum 20)" in lines
    assert f"FAIL  model.orphan_recall_lower: insufficient evidence (n = {in_test} test cases)" in lines
    point = metrics["model"]["orphan_operating_point"]
    assert point["cases"] == in_test and point["at_stated_prevalence"]["prevalence"] == params["evaluate"][
        "stated_orphan_prevalence"]
