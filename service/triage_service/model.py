"""The served model: loaded from the bucket (or a local directory), verified against its manifest, then swapped in
atomically. A model that fails verification is refused; the one already serving keeps serving."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triage_shared.artifacts import MANIFEST_FILE, MODEL_FILE
from triage_shared.classes import REVIEW_MESSAGE_ES, orphan_index
from triage_shared.manifest import class_codes, lineage, orphan_threshold
from triage_shared.onnx import session as onnx_session
from triage_shared.store import ModelStore, StoreError, verify

from .request_schema import RequestSchema

log = logging.getLogger("triage.service")


class ModelRejected(RuntimeError):
    pass


@dataclass
class LoadedModel:
    manifest: dict
    session: object  # onnxruntime.InferenceSession
    contract: RequestSchema
    classes: list[str]
    labels_es: list[str]
    orphan_index: int | None  # None: the model's data has no orphan class, so it makes no orphan decision
    orphan_threshold: float | None
    review_threshold: float
    review_message: str
    lineage: dict = field(default_factory=dict)
    input_name: str = "features"

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        return self.session.run(["probabilities"], {self.input_name: matrix})[0]


def build(model_bytes: bytes, manifest: dict, env: str) -> LoadedModel:
    try:
        verify(model_bytes, manifest)
    except StoreError as error:
        raise ModelRejected(str(error)) from error
    try:
        session = onnx_session(model_bytes)
    except Exception as error:  # onnxruntime raises its own exception types for a broken graph
        raise ModelRejected(f"ONNX Runtime cannot load the model: {error}") from error
    classes = class_codes(manifest)
    contract = RequestSchema(manifest["features"])
    probe = session.run(["probabilities"], {manifest["onnx"]["input"]["name"]: np.zeros((1, len(contract.rules)),
                                                                                        dtype=np.float32)})[0]
    if probe.shape != (1, len(classes)):
        raise ModelRejected(f"the model outputs {probe.shape[1]} probabilities for {len(classes)} classes")
    thresholds = manifest["thresholds"]
    return LoadedModel(manifest=manifest, session=session, contract=contract, classes=classes,
                       labels_es=[c["label_es"] for c in manifest["classes"]], orphan_index=orphan_index(classes),
                       orphan_threshold=orphan_threshold(manifest), review_threshold=float(thresholds["review"]),
                       review_message=thresholds.get("review_message_es", REVIEW_MESSAGE_ES),
                       lineage=lineage(manifest, env), input_name=manifest["onnx"]["input"]["name"])


def load_local(directory: Path, env: str) -> LoadedModel:
    """A model directory: manifest.json plus model.onnx (as published) or the file the manifest names."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        model_file = directory / MODEL_FILE
        if not model_file.exists():
            model_file = directory / manifest["onnx"]["file"]
        model_bytes = model_file.read_bytes()
    except (OSError, ValueError, KeyError) as error:
        raise ModelRejected(f"cannot read the model in {directory}: {error}") from error
    return build(model_bytes, manifest, env)


def load_from_bucket(store: ModelStore, env: str) -> LoadedModel:
    try:
        model_bytes, manifest = store.fetch(env)
    except StoreError as error:
        raise ModelRejected(str(error)) from error
    return build(model_bytes, manifest, env)
