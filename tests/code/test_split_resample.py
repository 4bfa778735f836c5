import numpy as np
import pandas as pd
import pytest

from triage import schema
from triage.stages.resample import resample
from triage.stages.split import split

SETTINGS = {"method": "stratified", "test_size": 0.2, "val_size": 0.2}


@pytest.fixture(scope="module")
def frame(labelled_cohort):
    return labelled_cohort.assign(visit_date=pd.to_datetime(labelled_cohort["visit_date"]))


@pytest.mark.parametrize("method", ["stratified", "temporal"])
def test_patients_never_straddle_parts(frame, method):
    parts = split(frame, {**SETTINGS, "method": method}, seed=1, holdout=set())
    patients = [set(part[schema.PATIENT_ID]) for part in parts.values()]
    assert not patients[0] & patients[1] and not patients[0] & patients[2] and not patients[1] & patients[2]
    assert sum(len(part) for part in parts.values()) == len(frame)


def test_stratified_split_keeps_class_shares(frame):
    parts = split(frame, SETTINGS, seed=1, holdout=set())
    overall = frame[schema.LABEL_COLUMN].value_counts(normalize=True)
    for part in parts.values():
        shares = part[schema.LABEL_COLUMN].value_counts(normalize=True)
        assert (shares - overall).abs().max() < 0.03
    assert len(parts["test"]) == pytest.approx(0.2 * len(frame), rel=0.1)


def test_temporal_split_puts_later_visits_later(frame):
    parts = split(frame, {**SETTINGS, "method": "temporal"}, seed=1, holdout=set())
    assert parts["train"]["visit_date"].median() < parts["valid"]["visit_date"].median() < parts["test"][
        "visit_date"].median()


def test_held_out_diseases_only_reach_the_test_part(frame, generative):
    holdout = set(generative.unseen.tolist())
    parts = split(frame, SETTINGS, seed=1, holdout=holdout)
    assert not parts["train"][schema.OUTCOME_COLUMN].isin(holdout).any()
    assert not parts["valid"][schema.OUTCOME_COLUMN].isin(holdout).any()
    assert parts["test"][schema.OUTCOME_COLUMN].isin(holdout).sum() == frame[schema.OUTCOME_COLUMN].isin(
        holdout).sum()


def test_unknown_split_method_is_refused(frame):
    with pytest.raises(ValueError, match="split.method"):
        split(frame, {**SETTINGS, "method": "random"}, seed=1, holdout=set())


@pytest.mark.parametrize("method", ["none", "class_weights", "random_over", "smote_nc"])
def test_resampling_methods(labelled_cohort, method):
    out = resample(labelled_cohort, {"method": method, "target_ratio": 0.25}, power=0.5, seed=3)
    before = labelled_cohort[schema.LABEL_COLUMN].value_counts()
    weighted = out.groupby(schema.LABEL_COLUMN)["sample_weight"].sum()
    assert list(out.columns[:-2]) == list(schema.MODEL_FEATURES)
    if method == "none":
        assert out["sample_weight"].eq(1).all() and len(out) == len(labelled_cohort)
    elif method == "class_weights":
        assert weighted["orphan"] / before["orphan"] > weighted["mild"] / before["mild"]
    else:
        counts = out[schema.LABEL_COLUMN].value_counts()
        assert counts["orphan"] == int(before.max() * 0.25) > before["orphan"]
        assert counts["mild"] == before["mild"]
    if method == "smote_nc":
        symptoms = out[list(schema.SYMPTOM_COLUMNS)].to_numpy()
        assert np.isin(symptoms, [0.0, 1.0]).all()
        assert out["sex"].isin(schema.SEX_CODES).all()


def test_unknown_resampling_method_is_refused(labelled_cohort):
    with pytest.raises(ValueError, match="resample.method"):
        resample(labelled_cohort, {"method": "adasyn", "target_ratio": 0.2}, power=0.5, seed=3)
