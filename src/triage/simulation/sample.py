"""Draw a clean cohort of visits from the generative model: patients, sites, dates and identities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage.simulation import portable
from triage.simulation.generative import GenerativeModel, inverse_cdf
from triage_shared.classes import CLASSES

# Extra visits per patient, by class (chronic and orphan patients come back).
REPEAT_VISITS = {"none": 0.1, "mild": 0.3, "acute": 0.2, "chronic": 1.5, "orphan": 1.5}
SEASONAL_PREFIXES = ("J06", "J02", "J10", "J11", "U07", "J18", "B34", "H66")
FIRST_NAMES = ("María", "José", "Lucía", "Javier", "Carmen", "Núñez", "Sofía", "Íñigo", "Martina", "Hugo", "Paula",
               "Álvaro", "Daniela", "Mateo", "Noelia", "Joaquín", "Begoña", "Raúl", "Ainhoa", "Chloé")
SURNAMES = ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
            "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Ibáñez", "Peña")
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def sample_cohort(model: GenerativeModel, n_visits: int, start_date: str, days: int, rng: np.random.Generator,
                  first_patient: int = 0, first_visit: int = 0) -> pd.DataFrame:
    """A clean visit table in the raw contract (typed values, before the mess of real extracts).

    A batch of a larger cohort passes the patients and visits drawn before it (`first_patient`, `first_visit`):
    its identifiers follow on, so that no two batches share a patient or a visit id.
    """
    site = rng.choice(len(model.site_ids), size=n_visits, p=model.site_weights)
    cumulative = np.cumsum(model.prior_given_site, axis=1)
    diagnosis = np.minimum(inverse_cdf(cumulative, site, rng.random(n_visits)), len(model.codes) - 1)
    patient = _assign_patients(site, diagnosis, model, rng) + first_patient
    _, first_of_patient, visit_patient = np.unique(patient, return_index=True, return_inverse=True)
    age = model.sample_age(diagnosis[first_of_patient], rng)[visit_patient]
    sex = model.sample_sex(diagnosis[first_of_patient], rng)[visit_patient]
    features = model.sample_visit_features(diagnosis, age, rng)
    model.apply_missingness(features, site, rng)
    visit_date = _visit_dates(model.codes[diagnosis], start_date, days, rng)
    frame = pd.DataFrame({
        "patient_id": np.char.add("MRN", np.char.zfill((patient + 1000000).astype(str), 7)),
        "visit_id": np.char.add("V", np.char.zfill((rng.permutation(n_visits) + 10000000 + first_visit).astype(str),
                                                   8)),
        "visit_date": visit_date, "site_id": model.site_ids[site], "age_years": age, "sex": sex, **features,
        "diagnosis_code": model.codes[diagnosis],
    })
    return _add_identities(frame, visit_patient, first_of_patient, rng)


def _assign_patients(site: np.ndarray, diagnosis: np.ndarray, model: GenerativeModel,
                     rng: np.random.Generator) -> np.ndarray:
    """Group the visits of each (site, diagnosis) into patients of 1 + Poisson(repeat) visits."""
    order = np.lexsort((rng.random(len(site)), diagnosis, site))
    patient = np.empty(len(site), dtype=np.int64)
    next_id = 0
    boundaries = np.flatnonzero(np.diff(site[order]) | np.diff(diagnosis[order])) + 1
    for group in np.split(order, boundaries):
        repeat = REPEAT_VISITS[CLASSES[model.class_index[diagnosis[group[0]]]]]
        sizes = 1 + rng.poisson(repeat, size=len(group))
        ids = np.repeat(np.arange(len(group)), sizes)[: len(group)]
        patient[group] = next_id + ids
        next_id += ids[-1] + 1
    return patient


def _visit_dates(codes: np.ndarray, start_date: str, days: int, rng: np.random.Generator) -> np.ndarray:
    start = np.datetime64(start_date, "D")
    offsets = rng.integers(0, days, size=len(codes))
    seasonal = np.array([code.startswith(SEASONAL_PREFIXES) for code in codes])
    if seasonal.any():
        day_of_year = (start + np.arange(days)).astype("datetime64[D]")
        doy = (day_of_year - day_of_year.astype("datetime64[Y]")).astype(int)
        weight = 1 + 0.7 * portable.cos(2 * np.pi * (doy - 15) / 365.25)
        offsets[seasonal] = rng.choice(days, size=int(seasonal.sum()), p=weight / weight.sum())
    return (start + offsets).astype(str)


def _add_identities(frame: pd.DataFrame, visit_patient: np.ndarray, first_of_patient: np.ndarray,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Personal-data columns a real extract carries (ingest must remove them); `visit_patient` is each visit's
    patient counted from 0 in this table, whatever its patient id."""
    n_patients = len(first_of_patient)
    names = (np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n_patients)] + " " +
             np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n_patients)] + " " +
             np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n_patients)])
    numbers = rng.integers(10_000_000, 99_999_999, n_patients)
    national = np.array([f"{n}{DNI_LETTERS[n % 23]}" for n in numbers])
    visit = pd.to_datetime(frame["visit_date"]).to_numpy()
    birth = visit - (frame["age_years"].to_numpy() * 365.25 + rng.integers(0, 365, len(frame))).astype(
        "timedelta64[D]")
    birth_by_patient = birth[first_of_patient][visit_patient]
    frame.insert(1, "full_name", names[visit_patient])
    frame.insert(2, "national_id", national[visit_patient])
    frame.insert(3, "birth_date", pd.to_datetime(birth_by_patient).strftime("%Y-%m-%d"))
    return frame
