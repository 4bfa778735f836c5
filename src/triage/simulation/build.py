"""Build the generative model from the reference tables and `simulate` params (deterministic by seed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from triage import config
from triage.simulation import portable
from triage.simulation.generative import AGES, GenerativeModel
from triage.simulation.vocabulary import symptom_columns, symptoms
from triage_shared.classes import CLASSES

# Base class shares of visits (orphan share comes from params) and how each kind of site tilts them.
BASE_CLASS_SHARES = {"none": 0.17, "mild": 0.40, "acute": 0.22, "chronic": 0.21}


@dataclass(frozen=True)
class SiteType:
    kind: str
    weight: float
    tilt: dict[str, float]  # multiplier on each class share
    missing: tuple[float, ...]  # probability that each vital is missing (VITALS order)


SITE_TYPES = (
    SiteType("hospital_emergency", 0.24, {"acute": 1.8, "mild": 0.7, "orphan": 1.0},
             (0.03, 0.03, 0.08, 0.06, 0.05)),
    SiteType("reference_hospital", 0.10, {"orphan": 4.0, "chronic": 1.4, "mild": 0.6},
             (0.05, 0.05, 0.15, 0.10, 0.08)),
    SiteType("primary_care", 0.20, {"mild": 1.3, "acute": 0.6, "orphan": 0.6},
             (0.15, 0.20, 0.45, 0.35, 0.20)),
    SiteType("primary_care_rural", 0.16, {"mild": 1.2, "chronic": 1.3, "acute": 0.7, "orphan": 0.5},
             (0.25, 0.30, 0.55, 0.50, 0.25)),
    SiteType("paediatric_clinic", 0.14, {"mild": 1.4, "chronic": 0.4, "orphan": 1.5},
             (0.10, 0.15, 0.35, 0.40, 0.60)),
    SiteType("occupational_health", 0.16, {"none": 2.0, "mild": 1.1, "acute": 0.4, "chronic": 0.8, "orphan": 0.3},
             (0.30, 0.30, 0.60, 0.60, 0.30)),
)
# Chance of a symptom being a random "noise" term, relative weights (the recipe adds random terms).
NOISE_WEIGHT_NONSPECIFIC = 1.0
NOISE_WEIGHT_OTHER = 0.4
NOISE_WEIGHT_RED_FLAG = 0.04
NONSPECIFIC = {"fatigue", "headache", "myalgia", "arthralgia", "back_pain", "nausea", "abdominal_pain", "cough",
               "vertigo", "weight_loss", "rash", "pruritus", "palpitations", "constipation", "diarrhea"}


def read_common(path=config.COMMON_DISEASES) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"code": str})


def read_orphan_profiles(path=config.ORPHAN_PROFILES) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"orpha_code": str})


def parse_symptom_list(text: str) -> dict[str, float]:
    pairs = (item.split("=") for item in str(text).split(";") if item)
    return {name.strip(): float(value) for name, value in pairs}


def build_model(settings: dict[str, Any], seed: int, common: pd.DataFrame | None = None,
                orphan_profiles: pd.DataFrame | None = None) -> GenerativeModel:
    rng = np.random.default_rng(seed)
    common = read_common() if common is None else common
    orphan_profiles = read_orphan_profiles() if orphan_profiles is None else orphan_profiles
    diseases = _disease_table(common, orphan_profiles, rng)
    symptom_p = _symptom_probabilities(diseases, settings["recording_sensitivity"],
                                       settings["recording_sensitivity_red_flag"], settings["noise_terms"])
    sites = [SITE_TYPES[i % len(SITE_TYPES)] for i in range(settings["sites"])]
    site_weights = np.array([site.weight for site in sites])
    site_weights /= site_weights.sum()
    class_index = diseases["triage_class"].map(CLASSES.index).to_numpy()
    orphan_weights = _zipf_weights(diseases, settings["orphan_zipf"], rng)
    within_class = np.where(diseases["triage_class"] == "orphan", orphan_weights, diseases["weight"].to_numpy())
    for k in range(len(CLASSES)):
        members = class_index == k
        within_class[members] = within_class[members] / within_class[members].sum()
    shares = _site_class_shares(sites, site_weights, settings["orphan_share"])
    prior_given_site = shares[:, class_index] * within_class[None, :]
    p_fever = symptom_p[:, symptom_columns().index("sx_fever")]
    p_dyspnea = symptom_p[:, symptom_columns().index("sx_dyspnea")]
    unseen = _unseen_orphans(diseases, orphan_weights, settings["unseen_orphan"])
    return GenerativeModel(
        codes=diseases["code"].to_numpy(dtype=str), names=diseases["name"].to_numpy(dtype=str),
        class_index=class_index, site_ids=np.array([f"S{i + 1:02d}" for i in range(len(sites))]),
        site_weights=site_weights, prior_given_site=prior_given_site,
        age_pmf=_age_pmf(diseases), male_prob=diseases["male_share"].to_numpy(dtype=float),
        sex_unknown=np.array(settings["mess"]["sex_unknown"]),
        temp_mu=36.75 + 1.9 * p_fever, hr_shift=diseases["hr_shift"].to_numpy(dtype=float) + 14 * p_fever,
        rr_shift=7.0 * p_dyspnea, spo2_mu=97.6 - 3.0 * p_dyspnea + diseases["spo2_shift"].to_numpy(dtype=float),
        sbp_shift=diseases["sbp_shift"].to_numpy(dtype=float),
        days_mu=portable.log(diseases["days_median"].to_numpy(dtype=float) + 0.5),
        days_sigma=diseases["days_sigma"].to_numpy(dtype=float),
        comorbidity=diseases["comorbidity_rate"].to_numpy(dtype=float), symptom_p=symptom_p,
        vital_missing=np.array([site.missing for site in sites]),
        symptom_missing=np.array(settings["mess"]["symptom_not_recorded"]), unseen=np.array(unseen, dtype=str),
    )


def _disease_table(common: pd.DataFrame, orphan_profiles: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per diagnosis: common ones as written by hand, orphan ones from the HPO projection."""
    common = common.assign(profile=common["symptoms"].map(parse_symptom_list))
    orphan_rows = []
    for code, group in orphan_profiles.groupby("orpha_code", sort=False):
        orphan_rows.append({
            "code": code, "name": group["disease_name"].iloc[0], "triage_class": "orphan", "weight": 1.0,
            "age_mean": rng.uniform(20, 45), "age_sd": 14.0, "child_share": rng.uniform(0.5, 0.95),
            "male_share": rng.uniform(0.38, 0.62), "days_median": float(portable.exp(rng.uniform(portable.log(45.0),
                                                                                                portable.log(900.0)))),
            "days_sigma": 1.5, "comorbidity_rate": rng.uniform(0.5, 1.5), "hr_shift": 0.0, "sbp_shift": 0.0,
            "spo2_shift": 0.0, "profile": dict(zip(group["symptom"], group["probability"], strict=True)),
        })
    orphans = pd.DataFrame(orphan_rows)
    columns = ["code", "name", "triage_class", "weight", "age_mean", "age_sd", "child_share", "male_share",
               "days_median", "days_sigma", "comorbidity_rate", "hr_shift", "sbp_shift", "spo2_shift", "profile"]
    table = pd.concat([common[columns], orphans[columns]], ignore_index=True)
    unknown = {name for profile in table["profile"] for name in profile} - {s.name for s in symptoms()}
    if unknown:
        raise ValueError(f"disease profiles name symptoms outside the schema vocabulary: {sorted(unknown)}")
    return table


def _symptom_probabilities(diseases: pd.DataFrame, sensitivity: float, red_flag_sensitivity: float,
                           noise_terms: float) -> np.ndarray:
    names = [s.name for s in symptoms()]
    true_p = np.array([[profile.get(name, 0.0) for name in names] for profile in diseases["profile"]])
    recorded = true_p * np.array([red_flag_sensitivity if s.red_flag else sensitivity for s in symptoms()])
    noise_weight = np.array([NOISE_WEIGHT_RED_FLAG if s.red_flag else
                             NOISE_WEIGHT_NONSPECIFIC if s.name in NONSPECIFIC else NOISE_WEIGHT_OTHER
                             for s in symptoms()])
    # expected number of noise terms = noise_terms x expected true terms (at least one term's worth)
    expected_noise = noise_terms * np.maximum(recorded.sum(axis=1, keepdims=True), 1.0)
    noise = np.clip(expected_noise * noise_weight / noise_weight.sum(), 0, 0.5)
    return np.clip(1 - (1 - recorded) * (1 - noise), 1e-4, 1 - 1e-4)


def _zipf_weights(diseases: pd.DataFrame, exponent: float, rng: np.random.Generator) -> np.ndarray:
    weights = np.zeros(len(diseases))
    orphan = np.flatnonzero(diseases["triage_class"].to_numpy() == "orphan")
    ranks = rng.permutation(len(orphan)) + 1
    weights[orphan] = portable.power(ranks.astype(float), -exponent)
    return weights


def _unseen_orphans(diseases: pd.DataFrame, orphan_weights: np.ndarray, count: int) -> list[str]:
    """Held-out orphan diseases: spread over the middle of the frequency ranking, so each has some cases."""
    orphan = np.flatnonzero(diseases["triage_class"].to_numpy() == "orphan")
    by_frequency = orphan[np.argsort(-orphan_weights[orphan], kind="stable")]
    if count <= 0:
        return []
    positions = np.linspace(len(by_frequency) // 8, len(by_frequency) // 2, count).astype(int)
    return sorted(diseases["code"].iloc[by_frequency[positions]].tolist())


def _site_class_shares(sites: list[SiteType], site_weights: np.ndarray, orphan_share: float) -> np.ndarray:
    """P(class | site) such that the cohort-wide orphan share is exactly `orphan_share`."""
    non_orphan = np.array([[BASE_CLASS_SHARES[c] * site.tilt.get(c, 1.0) for c in CLASSES[:-1]]
                           for site in sites])
    non_orphan /= non_orphan.sum(axis=1, keepdims=True)
    orphan_tilt = np.array([site.tilt.get("orphan", 1.0) for site in sites])
    orphan = orphan_share * orphan_tilt / (site_weights @ orphan_tilt)
    if orphan.max() >= 1:
        raise ValueError(f"simulate.orphan_share={orphan_share} is too large for the site mix")
    return np.column_stack([non_orphan * (1 - orphan)[:, None], orphan])


def _age_pmf(diseases: pd.DataFrame) -> np.ndarray:
    """Discretised mixture: a childhood component (mean 6, sd 5) and an adult component per diagnosis."""
    child = _discrete_normal(6.0, 5.0)
    pmf = np.empty((len(diseases), len(AGES)))
    for i, row in enumerate(diseases.itertuples(index=False)):
        adult = _discrete_normal(row.age_mean, row.age_sd)
        pmf[i] = row.child_share * child + (1 - row.child_share) * adult
    return pmf / pmf.sum(axis=1, keepdims=True)


def _discrete_normal(mean: float, sd: float) -> np.ndarray:
    z = (AGES - mean) / sd
    density = portable.exp(-0.5 * z * z)
    return density / density.sum()
