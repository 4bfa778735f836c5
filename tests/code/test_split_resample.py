import numpy as np
import pandas as pd
import pytest

from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, PATIENT_ID
from triage.data.resample import resample
from triage.data.split import split
from triage.simulation.vocabulary import symptom_columns
from triage_shared.classes import CLASSES

SETTINGS = {"method": "stratified", "test_size": 0.2, "val_size": 0.2}


@pytest.fixture(scope="module")
def frame(labelled_cohort):
    return labelled_cohort.assign(visit_date=pd.to_datetime(labelled_cohort["visit_date"]))


@pytest.mark.parametrize("method", ["stratified", "temporal"])
def test_patients_never_straddle_parts(frame, method):
    parts = split(frame, {**SETTINGS, "method": method}, seed=1, holdout=set(), classes=CLASSES)
    patients = [set(part[PATIENT_ID]) for part in parts.values()]
    assert not patients[0] & patients[1] and not patients[0] & patients[2] and not patients[1] & patients[2]
    assert sum(len(part) for part in parts.values()) == len(frame)


def test_stratified_split_keeps_class_shares(frame):
    parts = split(frame, SETTINGS, seed=1, holdout=set(), classes=CLASSES)
    overall = frame[LABEL_COLUMN].value_counts(normalize=True)
    for part in parts.values():
        shares = part[LABEL_COLUMN].value_counts(normalize=True)
        assert (shares - overall).abs().max() < 0.03
    assert len(parts["test"]) == pytest.approx(0.2 * len(frame), rel=0.1)


def test_temporal_split_puts_later_visits_later(frame):
    parts = split(frame, {**SETTINGS, "method": "temporal"}, seed=1, holdout=set(), classes=CLASSES)
    assert parts["train"]["visit_date"].median() < parts["valid"]["visit_date"].median() < parts["test"][
        "visit_date"].median()


def test_held_out_diseases_only_reach_the_test_part(frame, generative):
    holdout = set(generative.unseen.tolist())
    parts = split(frame, SETTINGS, seed=1, holdout=holdout, classes=CLASSES)
    assert not parts["train"][OUTCOME_CODE].isin(holdout).any()
    assert not parts["valid"][OUTCOME_CODE].isin(holdout).any()
    assert parts["test"][OUTCOME_CODE].isin(holdout).sum() == frame[OUTCOME_CODE].isin(
        holdout).sum()


def test_unknown_split_method_is_refused(frame):
    with pytest.raises(ValueError, match="split.method"):
        split(frame, {**SETTINGS, "method": "random"}, seed=1, holdout=set(), classes=CLASSES)


@pytest.mark.parametrize("method", ["none", "class_weights", "random_over", "smote_nc"])
def test_resampling_methods(labelled_cohort, contract, method):
    out = resample(labelled_cohort, contract, {"method": method, "target_ratio": 0.25}, power=0.5, seed=3)
    before = labelled_cohort[LABEL_COLUMN].value_counts()
    weighted = out.groupby(LABEL_COLUMN)["sample_weight"].sum()
    assert list(out.columns[:-2]) == list(contract.feature_names)
    if method == "none":
        assert out["sample_weight"].eq(1).all() and len(out) == len(labelled_cohort)
    elif method == "class_weights":
        assert weighted["orphan"] / before["orphan"] > weighted["mild"] / before["mild"]
    else:
        counts = out[LABEL_COLUMN].value_counts()
        assert counts["orphan"] == int(before.max() * 0.25) > before["orphan"]
        assert counts["mild"] == before["mild"]
    if method == "smote_nc":
        symptoms = out[list(symptom_columns())].to_numpy()
        assert np.isin(symptoms, [0.0, 1.0]).all()
        assert out["sex"].isin(["F", "M", "U"]).all()


def test_unknown_resampling_method_is_refused(labelled_cohort, contract):
    with pytest.raises(ValueError, match="resample.method"):
        resample(labelled_cohort, contract, {"method": "adasyn", "target_ratio": 0.2}, power=0.5, seed=3)


def test_a_rare_class_of_three_patients_reaches_every_part(frame):
    rare = frame[frame[LABEL_COLUMN] == "orphan"][PATIENT_ID].unique()[:3]
    small = frame[(frame[LABEL_COLUMN] != "orphan") | frame[PATIENT_ID].isin(rare)]
    parts = split(small, SETTINGS, seed=1, holdout=set(), classes=CLASSES)
    assert all((part[LABEL_COLUMN] == "orphan").any() for part in parts.values())


def test_class_aware_sample_keeps_every_rare_case_and_weights_the_rest_back(labelled_cohort, contract):
    from triage.data.resample import INCLUSION_WEIGHT, class_aware_sample

    full = labelled_cohort[LABEL_COLUMN].value_counts()
    sample = class_aware_sample(labelled_cohort, 2000, seed=3)
    kept = sample[LABEL_COLUMN].value_counts()
    assert len(sample) == 2000 and kept["orphan"] == full["orphan"]  # the rare class whole
    capped = kept[kept < full[kept.index]]
    assert len(capped) >= 1 and capped.max() - capped.min() <= 1  # the common classes cut to one common cap
    weighted = sample.groupby(LABEL_COLUMN)[INCLUSION_WEIGHT].sum()
    assert np.allclose(weighted[full.index], full.to_numpy())  # inverse-probability weights restore each class
    same = resample(sample, contract, {"method": "class_weights"}, 0.5, seed=1)
    whole = resample(labelled_cohort, contract, {"method": "class_weights"}, 0.5, seed=1)
    assert np.isclose(same["sample_weight"].sum(), whole["sample_weight"].sum())  # weighted as the whole part
    assert class_aware_sample(labelled_cohort, None, seed=3)[INCLUSION_WEIGHT].eq(1.0).all()


def test_oversampling_a_class_aware_sample_is_refused(labelled_cohort, contract):
    from triage.data.checks import TrainingDataError
    from triage.data.resample import class_aware_sample

    with pytest.raises(TrainingDataError, match="train.max_rows"):
        resample(class_aware_sample(labelled_cohort, 2000, seed=3), contract,
                 {"method": "random_over", "target_ratio": 0.25}, 0.5, seed=1)


def test_the_sample_read_in_batches_is_the_sample_of_the_whole_part(labelled_cohort, tmp_path):
    """resample and train read the class-aware sample from Parquet (a file, or a folder of parts as Spark writes
    them) in batches, labels first: the same rows, in the same order, as sampling the part held in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from triage.data import resample as resampling
    from triage.data.resample import INCLUSION_WEIGHT, class_aware_sample, read_class_aware_sample

    frame = labelled_cohort[[LABEL_COLUMN, PATIENT_ID, "age_years"]].reset_index(drop=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "part.parquet", row_group_size=700)
    (tmp_path / "folder").mkdir()
    for number, start in enumerate(range(0, len(frame), 2500)):
        pq.write_table(pa.Table.from_pandas(frame.iloc[start:start + 2500], preserve_index=False),
                       tmp_path / "folder" / f"part-{number:05d}.parquet")
    expected = class_aware_sample(frame, 1500, seed=5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resampling, "READ_BATCH_ROWS", 333)  # many batches, boundaries anywhere
        for source in ("part.parquet", "folder"):
            read = read_class_aware_sample([tmp_path / source], 1500, seed=5)
            assert read[frame.columns].astype(str).equals(expected[frame.columns].astype(str))
            assert np.array_equal(read[INCLUSION_WEIGHT], expected[INCLUSION_WEIGHT])
