"""A shifted cohort for monitoring: another season and site mix, an outbreak of one common disease and a rise of one
orphan disease, drawn from the same generative model (so the true labels are known and the posterior is exact)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from triage.model.features import request_records
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


def command(args) -> int:
    """`triage simulate-shift`: a labelled raw extract (what a hospital sends later) and the matching requests."""
    from triage import config
    from triage.simulation.generative import GenerativeModel

    params = config.load_params(Path(args.params))
    if not config.GENERATIVE_MODEL.exists():
        print(f"simulate-shift: {config.GENERATIVE_MODEL} is missing: run `dvc repro simulate` first", file=sys.stderr)
        return 2
    model = GenerativeModel.load(config.GENERATIVE_MODEL)
    frame = sample_reference(model, params["simulate"], args.visits, args.seed) if args.reference else \
        sample_shifted(model, params["simulate"]["shift"], args.visits, args.seed)
    frame["visit_id"] = [f"S{args.seed:04d}-{i:07d}" for i in range(len(frame))]  # unique across draws
    extract, requests = Path(args.extract), Path(args.requests)
    extract.parent.mkdir(parents=True, exist_ok=True)
    requests.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(extract, index=False)
    requests.write_text(json.dumps({"patients": api_records(frame), "visit_ids": frame["visit_id"].tolist()}),
                        encoding="utf-8")
    kind = "training-distribution" if args.reference else "shifted"
    print(f"{kind} cohort: {len(frame)} visits -> {extract} (labelled extract), {requests} (requests)")
    return 0
