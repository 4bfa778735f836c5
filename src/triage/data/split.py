"""Train / validation / test parts, stratified by class (default) or temporal by visit date.

Patients never straddle parts: the unit of assignment is the patient. Outcome codes listed in the holdout file (the
simulator's unseen orphan diseases) are kept out of training and validation entirely, so evaluate can report recall
on diseases the model never saw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from triage.contract import Contract
from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, PATIENT_ID, VISIT_DATE

PARTS = ("train", "valid", "test")


def read_holdout(path: str | None) -> set[str]:
    if not path or not Path(path).exists():
        return set()
    return {line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()}


def patient_classes(frame: pd.DataFrame, classes: tuple[str, ...]) -> pd.Series:
    """Each patient's class for stratification: the rarest (highest-priority, last in product order) class among
    their visits."""
    rank = frame[LABEL_COLUMN].map(classes.index)
    return rank.groupby(frame[PATIENT_ID]).max()


def stratified_assignment(frame: pd.DataFrame, classes: tuple[str, ...], test_size: float, val_size: float,
                          seed: int) -> pd.Series:
    """Part per patient: within each class, shuffled patients fill the parts by their share of visits. A class of
    three patients or more gets at least one in the test and one in the validation part, however rare it is."""
    visits = frame.groupby(PATIENT_ID).size()
    klass = patient_classes(frame, classes)
    rng = np.random.default_rng(seed)
    part = pd.Series("train", index=visits.index, dtype=object)
    for k in np.unique(klass.to_numpy()):
        patients = klass.index[klass.to_numpy() == k].to_numpy()
        patients = patients[rng.permutation(len(patients))]
        share = np.cumsum(visits.loc[patients].to_numpy()) / visits.loc[patients].sum()
        test = share <= test_size
        valid = (share > test_size) & (share <= test_size + val_size)
        if len(patients) >= 3:
            ensure_one(test, ~valid)
            ensure_one(valid, ~test)
        part.loc[patients[test]] = "test"
        part.loc[patients[valid]] = "valid"
    return part


def ensure_one(members: np.ndarray, free: np.ndarray) -> None:
    """Put one patient into an empty part, taken from the free ones while at least one stays for training."""
    candidates = np.flatnonzero(free & ~members)
    if not members.any() and len(candidates) >= 2:
        members[candidates[0]] = True


def temporal_assignment(frame: pd.DataFrame, test_size: float, val_size: float) -> pd.Series:
    """Part per patient by visit date; a patient seen in a later period goes wholly to the later part."""
    dates = frame[VISIT_DATE]
    valid_from, test_from = dates.quantile([1 - test_size - val_size, 1 - test_size])
    visit_part = np.where(dates >= test_from, 2, np.where(dates >= valid_from, 1, 0))
    latest = pd.Series(visit_part, index=frame.index).groupby(frame[PATIENT_ID]).max()
    return latest.map(dict(enumerate(PARTS)))


def split(frame: pd.DataFrame, settings: dict, seed: int, holdout: set[str], classes: tuple[str, ...]
          ) -> dict[str, pd.DataFrame]:
    if settings["method"] == "stratified":
        part = stratified_assignment(frame, classes, settings["test_size"], settings["val_size"], seed)
    elif settings["method"] == "temporal":
        if VISIT_DATE not in frame.columns:
            raise ValueError("split.method 'temporal' needs a visit date: the contract declares none "
                             "(context.visit_date)")
        part = temporal_assignment(frame, settings["test_size"], settings["val_size"])
    else:
        raise ValueError(f"split.method must be 'stratified' or 'temporal', got {settings['method']!r}")
    held_patients = frame.loc[frame[OUTCOME_CODE].isin(holdout), PATIENT_ID].unique()
    part.loc[part.index.isin(held_patients)] = "test"
    visit_part = frame[PATIENT_ID].map(part)
    return {name: frame[visit_part == name].reset_index(drop=True) for name in PARTS}


def summary(parts: dict[str, pd.DataFrame], holdout: set[str], contract: Contract) -> dict:
    out: dict = {}
    for name, part in parts.items():
        counts = part[LABEL_COLUMN].value_counts()
        out[name] = {"rows": len(part), "patients": int(part[PATIENT_ID].nunique()),
                     **{f"n_{c}": int(counts.get(c, 0)) for c in contract.classes}}
    if holdout:
        out["test"]["n_unseen_orphan"] = int(parts["test"][OUTCOME_CODE].isin(holdout).sum())
    return out
