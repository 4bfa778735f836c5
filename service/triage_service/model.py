"""The served model: loaded from the bucket (or a local directory), verified against its manifest, then swapped in
atomically. A model that fails verification is refused; the one already serving keeps serving."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from triage_store import MANIFEST_FILE, MODEL_FILE, ModelStore, StoreError, verify

from .contract import RequestContract

log = logging.getLogger("triage.service")


class ModelRejected(RuntimeError):
    pass


@dataclass
class LoadedModel:
    manifest: dict
    session: ort.InferenceSession
    contract: RequestContract
    classes: list[str]
    labels_es: list[str]
    orphan_index: int | None  # None: the model's data has no orphan class, so it makes no orphan decision
    orphan_threshold: float | None
    review_threshold: float
    review_message: str
    lineage: dict = field(default_factory=dict)
    input_name: str = "features"
    other_indices: tuple[int, ...] = field(init=False)  # non-orphan classes: the top one is taken below threshold

    def __post_init__(self) -> None:
        self.other_indices = tuple(k for k in range(len(self.classes)) if k != self.orphan_index)

    def decide(self, row: list[float]) -> int:
        """The product's decision rule: orphan when P(orphan) reaches its threshold, else the most probable other
        class (the most probable class for a model without an orphan class)."""
        if self.orphan_index is not None and row[self.orphan_index] >= self.orphan_threshold:
            return self.orphan_index
        return max(self.other_indices, key=row.__getitem__)

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        return self.session.run(["probabilities"], {self.input_name: matrix})[0]


def build(model_bytes: bytes, manifest: dict, stage: str) -> LoadedModel:
    try:
        verify(model_bytes, manifest)
    except StoreError as error:
        raise ModelRejected(str(error)) from error
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a broken graph
        raise ModelRejected(f"ONNX Runtime cannot load the model: {error}") from error
    classes = [c["code"] for c in manifest["classes"]]
    contract = RequestContract(manifest["features"])
    probe = session.run(["probabilities"], {manifest["onnx"]["input"]["name"]: np.zeros((1, len(contract.rules)),
                                                                                        dtype=np.float32)})[0]
    if probe.shape != (1, len(classes)):
        raise ModelRejected(f"the model outputs {probe.shape[1]} probabilities for {len(classes)} classes")
    registry = manifest.get("registry", {})
    data_contract = manifest.get("contract", {})
    lineage = {"name": manifest["name"], "version": registry.get("version", manifest.get("version")),
               "stage": registry.get("stage", stage), "git_revision": manifest.get("git", {}).get("revision"),
               "training_data_md5": manifest.get("training_data", {}).get("md5"),
               "contract": f"{data_contract.get('name')} {data_contract.get('version')}",
               "sha256": manifest["onnx"]["sha256"]}
    thresholds = manifest["thresholds"]
    orphan = classes.index("orphan") if "orphan" in classes else None
    return LoadedModel(manifest=manifest, session=session, contract=contract, classes=classes,
                       labels_es=[c["label_es"] for c in manifest["classes"]], orphan_index=orphan,
                       orphan_threshold=None if orphan is None else float(thresholds["orphan"]),
                       review_threshold=float(thresholds["review"]),
                       review_message=thresholds.get("review_message_es", "Revisión por especialista"),
                       lineage=lineage, input_name=manifest["onnx"]["input"]["name"])


def load_local(directory: Path, stage: str) -> LoadedModel:
    """A model directory: manifest.json plus model.onnx (as published) or the file the manifest names."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        model_file = directory / MODEL_FILE
        if not model_file.exists():
            model_file = directory / manifest["onnx"]["file"]
        model_bytes = model_file.read_bytes()
    except (OSError, ValueError, KeyError) as error:
        raise ModelRejected(f"cannot read the model in {directory}: {error}") from error
    return build(model_bytes, manifest, stage)


def load_from_bucket(store: ModelStore, stage: str) -> LoadedModel:
    try:
        model_bytes, manifest = store.fetch(stage)
    except StoreError as error:
        raise ModelRejected(str(error)) from error
    return build(model_bytes, manifest, stage)
