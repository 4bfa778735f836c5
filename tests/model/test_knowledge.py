"""Knowledge features: the reference phenotype table bound through the contract's HPO codes, computed inside the
ONNX graph bit for bit as in the native pipeline, switched off without HPO codes, and degraded for the ablation."""

import hashlib
import os
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

from triage import config
from triage.contract import load_contract
from triage.model.estimators import model_input_names, preprocessed_features, triage_pipeline
from triage.model.features import class_targets, feature_matrix
from triage.model.knowledge import (
    FEATURE_NAMES,
    WEIGHT_QUANTUM,
    KnowledgeFeatures,
    bind,
    knowledge_from_params,
    mismatched,
    read_table,
)
from triage.model.onnx import TARGET_OPSET, check_parity, register_converters, to_onnx
from triage_shared.onnx import session as onnx_session


@pytest.fixture(scope="module")
def table():
    return read_table(config.ORPHAN_PROFILES)


@pytest.fixture(scope="module")
def binding(table, contract):
    return bind(table, contract, recording_sensitivity=0.7)


@pytest.fixture(scope="module")
def knowledge_pipeline(labelled_cohort, small_settings, params, contract, binding):
    pipeline = triage_pipeline(contract, {**small_settings, "iterations": 60}, params["base"]["seed"], binding)
    return pipeline.fit(feature_matrix(labelled_cohort, contract), class_targets(labelled_cohort, contract.classes))


def test_the_table_binds_to_every_hpo_coded_sign_of_the_default_contract(table, binding, contract):
    assert len(table.diseases) == 60 and table.annotations > 400
    assert binding.features == tuple(n for n in contract.binary_names if contract.features[n].codes.hpo)
    assert binding.frequency.shape == (60, len(binding.features))
    assert sum(binding.red_flag) == sum(contract.features[n].red_flag for n in binding.features) > 0


def test_a_contract_without_hpo_codes_gets_no_knowledge_features(table, params):
    flchain = load_contract("data/contracts/examples/flchain.yaml")
    assert bind(table, flchain, 0.7) is None
    assert knowledge_from_params({**params, "knowledge": {**params["knowledge"], "enabled": True}}, flchain) is None


def test_switched_off_by_params(params, contract):
    assert knowledge_from_params({**params, "knowledge": {**params["knowledge"], "enabled": False}}, contract) is None


def test_a_table_needs_its_columns(tmp_path):
    path = tmp_path / "table.csv"
    pd.DataFrame({"orpha_code": ["ORPHA:1"], "symptom": ["seizures"], "probability": [0.5]}).to_csv(path)
    with pytest.raises(ValueError, match="hpo_id"):
        read_table(path)


def test_a_disease_profile_scores_above_an_empty_record_and_missing_signs_count_nothing(binding, labelled_cohort,
                                                                                         contract):
    transformer = KnowledgeFeatures(binding.frequency, binding.red_flag, 0.7)
    transformer.fit(labelled_cohort[list(binding.features)].to_numpy(dtype=float))
    disease = int(np.argmax((binding.frequency > 0.5).sum(axis=1)))
    typical = (binding.frequency[disease] > 0.5).astype(np.float32)
    rows = np.vstack([typical, np.zeros_like(typical), np.full_like(typical, np.nan)])
    features = transformer.transform(rows)
    assert features[0, 0] > 5 > features[1, 0]  # best log LR: the disease's own signs against none recorded
    assert features[0, 2] == typical.sum() and features[0, 4] == 0  # the top disease explains every sign
    assert features[0, 3] == (typical * np.asarray(binding.red_flag)).sum()
    assert np.all(features[2, [0, 1, 2, 3, 4]] == [0, 0, 0, 0, 0])  # nothing recorded: no evidence either way


def test_scores_are_exact_whatever_the_summation_order(binding, labelled_cohort):
    x = labelled_cohort[list(binding.features)].to_numpy(dtype=np.float32)
    transformer = KnowledgeFeatures(binding.frequency, binding.red_flag, 0.7).fit(x)
    scores = transformer.scores(x)
    assert np.all(np.round(scores / WEIGHT_QUANTUM) * WEIGHT_QUANTUM == scores)
    order = np.random.default_rng(0).permutation(x.shape[1])
    permuted = (x[:, order] > 0.5).astype(np.float64) @ transformer.present_weight_[order] + \
        (x[:, order] < 0.5).astype(np.float64) @ transformer.absent_weight_[order]
    assert np.array_equal(permuted, scores)


def test_onnx_runtime_computes_the_same_bits(knowledge_pipeline, labelled_cohort, contract):
    register_converters()
    preprocess = knowledge_pipeline.named_steps["preprocess"]
    x = feature_matrix(labelled_cohort, contract)
    graph = convert_sklearn(preprocess, "preprocess", initial_types=[("features", FloatTensorType([None, x.shape[1]]))],
                            target_opset=TARGET_OPSET)
    onnx_out = onnx_session(graph.SerializeToString()).run(None, {"features": x})[0]
    native = preprocess.transform(x)
    assert onnx_out.shape == native.shape == (len(x), len(preprocessed_features(contract)) + len(FEATURE_NAMES))
    assert np.array_equal(onnx_out.view(np.uint32), native.view(np.uint32))


def test_pipeline_with_knowledge_exports_with_parity(knowledge_pipeline, labelled_cohort, contract):
    model_bytes = to_onnx(knowledge_pipeline, len(contract.feature_names)).SerializeToString()
    report = check_parity(knowledge_pipeline, model_bytes, feature_matrix(labelled_cohort.tail(1500), contract),
                          tolerance=1e-5)
    assert report["label_disagreements"] == 0
    names = model_input_names(knowledge_pipeline, contract)
    assert names[-len(FEATURE_NAMES):] == list(FEATURE_NAMES)
    assert len(names) == len(knowledge_pipeline.named_steps["model"].get_feature_importance())


def test_model_input_names_without_knowledge(trained_pipeline, contract):
    assert model_input_names(trained_pipeline, contract) == preprocessed_features(contract)


def test_mismatch_ablation_degrades_the_table_deterministically(table):
    unchanged = mismatched(table, {}, seed=1)
    assert unchanged.diseases == table.diseases and np.array_equal(unchanged.frequency, table.frequency)
    settings = {"drop_diseases": 0.2, "drop_annotations": 0.3, "jitter": 1.0, "spurious_annotations": 0.2}
    degraded = mismatched(table, settings, seed=1)
    assert np.array_equal(degraded.frequency, mismatched(table, settings, seed=1).frequency)
    assert 30 < len(degraded.diseases) < 60 and set(degraded.diseases) < set(table.diseases)
    kept = [table.diseases.index(d) for d in degraded.diseases]
    original = table.frequency[kept]
    true_kept = ((original > 0) & (degraded.frequency > 0)).sum() / (original > 0).sum()
    assert 0.6 < true_kept < 0.8  # about 30 % of the annotations dropped
    assert ((original == 0) & (degraded.frequency > 0)).any()  # spurious annotations added
    changed = (original > 0) & (degraded.frequency > 0)
    assert not np.allclose(original[changed], degraded.frequency[changed])  # jittered
    only_jitter = mismatched(table, {"jitter": 1.0}, seed=1)
    assert only_jitter.diseases == table.diseases and ((only_jitter.frequency > 0) == (table.frequency > 0)).all()


def test_two_stage_model_with_knowledge_exports_with_parity(labelled_cohort, small_settings, contract, binding):
    from triage.model.training import fit_triage_model

    frame = labelled_cohort.assign(sample_weight=1.0)
    pipeline = fit_triage_model(frame, None, contract, {**small_settings, "strategy": "two_stage", "iterations": 40,
                                                        "progress_every": False}, 3, binding)
    model_bytes = to_onnx(pipeline, len(contract.feature_names)).SerializeToString()
    report = check_parity(pipeline, model_bytes, feature_matrix(labelled_cohort.tail(800), contract), tolerance=1e-5)
    assert report["label_disagreements"] == 0


EXPORT_IN_A_FRESH_INTERPRETER = """
import hashlib, sys
import joblib
from triage.model.onnx import to_onnx
pipeline = joblib.load(sys.argv[1])
print(hashlib.sha256(to_onnx(pipeline, pipeline.n_features_in_).SerializeToString()).hexdigest())
"""


def test_export_gives_the_same_bytes_whatever_the_string_hash_seed(knowledge_pipeline, contract, tmp_path):
    """skl2onnx gathers the opset imports in a set; with string-hash seeds 1 and 3 its order differs for this graph,
    so without sorting them the export stage would not reproduce its own dvc.lock in another process."""
    joblib.dump(knowledge_pipeline, tmp_path / "pipeline.joblib")
    here = hashlib.sha256(to_onnx(knowledge_pipeline, len(contract.feature_names)).SerializeToString()).hexdigest()
    digests = {subprocess.run([sys.executable, "-c", EXPORT_IN_A_FRESH_INTERPRETER, str(tmp_path / "pipeline.joblib")],
                              env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True,
                              check=True).stdout.split()[-1] for seed in ("1", "3")}
    assert digests == {here}
