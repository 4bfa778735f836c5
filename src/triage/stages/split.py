"""Stage `split`: train / validation / test parts, stratified by class (default) or temporal by visit date.

Patients never straddle parts: the unit of assignment is the patient. Orphan diseases listed in the holdout file
(the simulator's unseen diseases) are kept out of training and validation entirely, so evaluate can report recall
on diseases the model never saw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from triage import config, schema
from triage.tables import write_json, write_parquet

PARTS = ("train", "valid", "test")
log = config.stage_logger("split")


def read_holdout(path: str | None) -> set[str]:
    if not path or not Path(path).exists():
        return set()
    return {line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()}


def patient_classes(frame: pd.DataFrame) -> pd.Series:
    """Each patient's class for stratification: the rarest (highest-priority) class among their visits."""
    rank = frame[schema.LABEL_COLUMN].map(schema.CLASSES.index)
    return rank.groupby(frame[schema.PATIENT_ID]).max()


def stratified_assignment(frame: pd.DataFrame, test_size: float, val_size: float, seed: int) -> pd.Series:
    """Part per patient: within each class, shuffled patients fill the parts by their share of visits."""
    visits = frame.groupby(schema.PATIENT_ID).size()
    klass = patient_classes(frame)
    rng = np.random.default_rng(seed)
    part = pd.Series("train", index=visits.index, dtype=object)
    for k in np.unique(klass.to_numpy()):
        patients = klass.index[klass.to_numpy() == k].to_numpy()
        patients = patients[rng.permutation(len(patients))]
        share = np.cumsum(visits.loc[patients].to_numpy()) / visits.loc[patients].sum()
        part.loc[patients[share <= test_size]] = "test"
        part.loc[patients[(share > test_size) & (share <= test_size + val_size)]] = "valid"
    return part


def temporal_assignment(frame: pd.DataFrame, test_size: float, val_size: float) -> pd.Series:
    """Part per patient by visit date; a patient seen in a later period goes wholly to the later part."""
    dates = frame["visit_date"]
    valid_from, test_from = dates.quantile([1 - test_size - val_size, 1 - test_size])
    visit_part = np.where(dates >= test_from, 2, np.where(dates >= valid_from, 1, 0))
    latest = pd.Series(visit_part, index=frame.index).groupby(frame[schema.PATIENT_ID]).max()
    return latest.map(dict(enumerate(PARTS)))


def split(frame: pd.DataFrame, settings: dict, seed: int, holdout: set[str]) -> dict[str, pd.DataFrame]:
    if settings["method"] == "stratified":
        part = stratified_assignment(frame, settings["test_size"], settings["val_size"], seed)
    elif settings["method"] == "temporal":
        part = temporal_assignment(frame, settings["test_size"], settings["val_size"])
    else:
        raise ValueError(f"split.method must be 'stratified' or 'temporal', got {settings['method']!r}")
    held_patients = frame.loc[frame[schema.OUTCOME_COLUMN].isin(holdout), schema.PATIENT_ID].unique()
    part.loc[part.index.isin(held_patients)] = "test"
    visit_part = frame[schema.PATIENT_ID].map(part)
    return {name: frame[visit_part == name].reset_index(drop=True) for name in PARTS}


def summary(parts: dict[str, pd.DataFrame], holdout: set[str]) -> dict:
    out: dict = {}
    for name, part in parts.items():
        counts = part[schema.LABEL_COLUMN].value_counts()
        out[name] = {"rows": len(part), "patients": int(part[schema.PATIENT_ID].nunique()),
                     **{f"n_{c}": int(counts.get(c, 0)) for c in schema.CLASSES}}
    out["test"]["n_unseen_orphan"] = int(parts["test"][schema.OUTCOME_COLUMN].isin(holdout).sum())
    return out


def main() -> None:
    params = config.load_params()
    settings = params["split"]
    holdout = read_holdout(settings.get("holdout_file"))
    frame = pd.read_parquet(config.CLEAN)
    parts = split(frame, settings, params["base"]["seed"], holdout)
    for name, path in zip(PARTS, (config.TRAIN, config.VALID, config.TEST), strict=True):
        write_parquet(parts[name], path)
    stats = summary(parts, holdout)
    write_json(stats, config.REPORTS / "split.json")
    log.info("%s split: %s", settings["method"],
             ", ".join(f"{name} {stats[name]['rows']} rows ({stats[name]['n_orphan']} orphan)" for name in PARTS))


if __name__ == "__main__":
    main()
