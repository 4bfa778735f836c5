"""The exported ONNX graph through onnxruntime against the native pipeline."""

import numpy as np
import pytest

from triage.model.estimators import triage_pipeline
from triage.model.features import class_targets, feature_matrix
from triage.model.onnx import INPUT_NAME, ParityError, check_parity, onnx_session, to_onnx


@pytest.fixture(scope="module")
def onnx_bytes(trained_pipeline, contract):
    return to_onnx(trained_pipeline, len(contract.feature_names)).SerializeToString()


def test_graph_interface(onnx_bytes, contract):
    session = onnx_session(onnx_bytes)
    (inp,) = session.get_inputs()
    assert (inp.name, inp.shape[1], inp.type) == (INPUT_NAME, len(contract.feature_names), "tensor(float)")
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    assert session.get_outputs()[1].type == "tensor(float)"  # a plain tensor, no ZipMap


def test_parity_on_held_out_rows_with_missing_values(trained_pipeline, onnx_bytes, labelled_cohort, contract):
    x = feature_matrix(labelled_cohort.tail(1000), contract)
    assert np.isnan(x).any()  # missing vitals and unknown sex are imputed inside the graph
    report = check_parity(trained_pipeline, onnx_bytes, x, tolerance=1e-4)
    assert report["label_disagreements"] == 0 and report["max_abs_probability_difference"] < 1e-4


def test_parity_check_fails_for_another_model(onnx_bytes, labelled_cohort, small_settings, contract):
    other = triage_pipeline(contract, {**small_settings, "iterations": 20}, seed=99)
    other.fit(feature_matrix(labelled_cohort, contract), class_targets(labelled_cohort, contract.classes))
    with pytest.raises(ParityError, match="disagree"):
        check_parity(other, onnx_bytes, feature_matrix(labelled_cohort.tail(500), contract), tolerance=1e-4)


def test_two_stage_model_exports_as_one_graph_with_parity(labelled_cohort, small_settings, contract):
    from triage.model.two_stage import two_stage_pipeline

    pipeline = two_stage_pipeline(contract, {**small_settings, "iterations": 60}, seed=5)
    x, y = feature_matrix(labelled_cohort, contract), class_targets(labelled_cohort, contract.classes)
    preprocess = pipeline.named_steps["preprocess"].fit(x)
    pipeline.named_steps["model"].fit(preprocess.transform(x), y)
    probabilities = pipeline.predict_proba(x[:50])
    assert np.allclose(probabilities.sum(axis=1), 1) and probabilities.shape == (50, len(contract.classes))
    model_bytes = to_onnx(pipeline, x.shape[1]).SerializeToString()
    report = check_parity(pipeline, model_bytes, feature_matrix(labelled_cohort.tail(800), contract), tolerance=1e-4)
    assert report["label_disagreements"] == 0
