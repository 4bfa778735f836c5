"""The simulated cohort as a CDM: its contract is still the one generated from the default contract, and the CDM
source extracts the same visits with the same features and outcome codes as the simulator drew them (the flat
extracts' visits before the mess)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import yaml

from triage.contract import load_contract
from triage.data.omop.extract import extract_cdm
from triage.simulation.cdm import clean_visits, simulated_cdm_contract, write_simulated_cdm

from ..conftest import REPO

CONTRACT = REPO / "data/contracts/examples/simulated_omop.yaml"


def test_the_committed_contract_is_the_one_generated_from_the_default_contract():
    flat = yaml.safe_load((REPO / "data/contracts/simulated.yaml").read_text())
    assert yaml.safe_load(CONTRACT.read_text()) == simulated_cdm_contract(flat)


def test_the_cdm_source_extracts_the_simulators_visits_features_and_outcomes(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    settings = {**copy.deepcopy(params["simulate"]), "n_visits": 3000, "batch_visits": 1500}
    contract = load_contract(CONTRACT)
    written = write_simulated_cdm(settings, params["base"]["seed"], contract, tmp_path / "cdm", lambda _: None)
    assert written["visit_occurrence"] == 3000
    report = extract_cdm(contract, tmp_path / "visits.parquet", str(tmp_path / "cdm"))
    assert report["index_visits"] == report["visits"] == 3000
    got = pd.read_parquet(tmp_path / "visits.parquet").set_index("visit_occurrence_id")
    drawn = pd.concat(clean_visits(settings, params["base"]["seed"]), ignore_index=True)
    drawn.index = drawn["visit_id"].str.replace(r"^\D+", "", regex=True)
    assert set(got.index) == set(drawn.index)
    got = got.loc[drawn.index]
    same_day = drawn.duplicated(["patient_id", "visit_date"], keep=False)  # a patient's two visits on one day share
    assert same_day.sum() < 30                                             # the day's records: left out of the check
    for name in contract.feature_names:
        mine, theirs = got.loc[~same_day.to_numpy(), name], drawn.loc[~same_day, name]
        if name == "sex":
            expected = theirs.map({"F": "8532", "M": "8507"}).fillna("0")
            assert (mine == expected).all()
        elif name == "age_years":  # the simulator draws a visit's age and its person's birth date apart (one birth
            gap = (pd.to_numeric(mine) - theirs).abs()  # date per person, from its first visit): two years at most
            assert gap.max() <= 2 and (gap == 0).mean() > 0.6, gap.value_counts().to_dict()
        elif contract.features[name].type == "binary":  # not recorded: no record, as the model reads it (impute 0)
            assert (pd.to_numeric(mine) == theirs.fillna(0)).all(), name
        else:
            assert np.allclose(pd.to_numeric(mine), theirs.astype(float), equal_nan=True), name
    assert (got["outcome_source_value"] == drawn["diagnosis_code"]).all()
