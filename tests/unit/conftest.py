"""A small real model for in-process tests of the service: a logistic regression exported by skl2onnx with the same
input and outputs as the pipeline's graph (one float input `features`, `label` and a plain `probabilities` tensor),
and a manifest for a three-feature contract with the classes none, acute and orphan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from triage_shared.onnx import INPUT_NAME
from triage_shared.store import sha256_hex

FEATURES = [
    {"name": "age_years", "type": "int", "minimum": 0, "maximum": 120, "nullable": False, "label_es": "Edad",
     "group": "Paciente", "unit": "años", "red_flag": False},
    {"name": "sex", "type": "category", "categories": ["F", "M", "U"], "encoding": {"F": 0.0, "M": 1.0, "U": None},
     "labels_es": {"F": "Mujer", "M": "Hombre", "U": "No consta"}, "nullable": False, "label_es": "Sexo",
     "group": "Paciente", "red_flag": False},
    {"name": "temperature_c", "type": "float", "minimum": 30, "maximum": 45, "nullable": True,
     "label_es": "Temperatura", "group": "Constantes", "unit": "°C", "red_flag": False},
    {"name": "sx_seizures", "type": "binary", "minimum": 0, "maximum": 1, "nullable": True,
     "label_es": "Convulsiones", "group": "Síntomas", "red_flag": True},
]
CLASSES = [{"code": "none", "label_es": "NO ENFERMO"}, {"code": "acute", "label_es": "ENFERMEDAD AGUDA"},
           {"code": "orphan", "label_es": "COMPATIBLE CON ENFERMEDAD HUÉRFANA"}]
ORPHAN_THRESHOLD = 0.2


def train_small_model() -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    n = 600
    age = rng.integers(0, 90, n)
    sex = rng.integers(0, 2, n)
    temperature = rng.normal(37.2, 0.9, n)
    seizures = rng.random(n) < 0.15
    label = np.where(seizures & (age < 18), 2, np.where(temperature > 38, 1, 0))
    x = np.column_stack([age, sex, temperature, seizures]).astype(np.float32)
    pipeline = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                         ("model", LogisticRegression(max_iter=500))]).fit(x, label)
    graph = convert_sklearn(pipeline, "small", initial_types=[(INPUT_NAME, FloatTensorType([None, 4]))],
                            options={id(pipeline.steps[-1][1]): {"zipmap": False}}, target_opset=17)
    return graph.SerializeToString()


def manifest_for(model: bytes) -> dict:
    return {"name": "triage-model", "version": "unregistered", "contract": {"name": "small", "version": "1.0.0"},
            "onnx": {"file": "model.onnx", "sha256": sha256_hex(model), "size_bytes": len(model),
                     "input": {"name": INPUT_NAME}},
            "classes": CLASSES, "orphan_decision": True, "features": FEATURES,
            "thresholds": {"orphan": ORPHAN_THRESHOLD, "review": 0.7, "review_message_es": "Revisión por especialista"}}


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("small-model")
    model = train_small_model()
    (directory / "model.onnx").write_bytes(model)
    (directory / "manifest.json").write_text(json.dumps(manifest_for(model)))
    return directory
