"""A shifted cohort for monitoring: another season and site mix, an outbreak of one common disease and a rise of one
orphan disease, drawn from the same generative model (so the true labels are known and the posterior is exact)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from triage.contract import CategoryFeature, Contract, NumericFeature
from triage.simulation import portable
from triage.simulation.generative import GenerativeModel
from triage.simulation.sample import SEASONAL_PREFIXES, sample_cohort
from triage.simulation.vocabulary import simulated_contract
from triage_shared.classes import CLASSES, ORPHAN_CLASS


def shifted_model(model: GenerativeModel, settings: dict) -> GenerativeModel:
    """The model with its site weights and diagnosis priors moved as `settings` (params simulate.shift) says."""
    # negative power: the small sites dominate (numpy's power has per-CPU code paths: see triage.simulation.portable)
    sites = portable.power(model.site_weights, float(settings["site_weight_power"]))
    prior = model.prior_given_site.copy()
    codes = [str(code) for code in model.codes]
    factors = np.ones(len(codes))
    factors[[code.startswith(SEASONAL_PREFIXES) for code in codes]] *= settings["seasonal_factor"]
    factors[[code.startswith(settings["outbreak_code"]) for code in codes]] *= settings["outbreak_factor"]
    factors[model.codes == rising_orphan(model)] *= settings["orphan_factor"]
    prior *= factors[None, :]
    return replace(model, site_weights=sites / sites.sum(), prior_given_site=prior / prior.sum(axis=1, keepdims=True))


def rising_orphan(model: GenerativeModel) -> str:
    """The orphan disease that rises: the second most frequent one seen in training (deterministic)."""
    orphan = CLASSES.index(ORPHAN_CLASS)
    seen = (model.class_index == orphan) & ~np.isin(model.codes, model.unseen)
    candidates = np.flatnonzero(seen)
    ranked = candidates[np.argsort(-model.prior[candidates], kind="stable")]
    return str(model.codes[ranked[min(1, len(ranked) - 1)]])


def sample_shifted(model: GenerativeModel, settings: dict, n_visits: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return sample_cohort(shifted_model(model, settings), n_visits, settings["start_date"], settings["days"], rng)


def sample_reference(model: GenerativeModel, simulate: dict, n_visits: int, seed: int) -> pd.DataFrame:
    """A fresh sample of the training distribution (for false-alarm checks)."""
    rng = np.random.default_rng(seed)
    return sample_cohort(model, n_visits, simulate["start_date"], simulate["days"], rng)


def api_records(frame: pd.DataFrame) -> list[dict]:
    """Visits as prediction requests: the simulated contract's features only, missing values left out."""
    return request_records(frame, simulated_contract())


def request_records(frame: pd.DataFrame, contract: Contract) -> list[dict]:
    """Visits as prediction requests: the contract's features with JSON types, missing values left out."""
    kinds = {name: _json_kind(feature) for name, feature in contract.features.items()}
    records = []
    for row in frame[list(kinds)].to_dict(orient="records"):
        record = {}
        for name, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                continue
            record[name] = kinds[name](value)
        records.append(record)
    return records


def _json_kind(feature) -> type:
    if isinstance(feature, CategoryFeature):
        return str
    if isinstance(feature, NumericFeature) and feature.type == "float":
        return float
    return int
