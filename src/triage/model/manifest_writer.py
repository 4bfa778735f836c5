"""The manifest that travels with the model, written at export from the pipeline's inputs only.

Checksum and size of the ONNX file, its input and outputs, the classes (and whether the model makes an orphan
decision), the data contract's identity and feature list (from which the service builds its request model, OpenAPI
document and form), thresholds, headline metrics, subgroups, the training data's hash, the params that made it and
the parity check. Nothing here depends on when or where it was made (no git revision, no time, no registry version):
a fresh clone reproduces it to the bit, and `triage publish` adds that lineage when it becomes true.
Nothing of the simulator appears unless the model was trained on it.
"""

from __future__ import annotations

from triage.contract import Contract
from triage.model.onnx import TARGET_OPSET
from triage_shared.artifacts import ARTIFACT, UNREGISTERED
from triage_shared.classes import NO_ORPHAN_DECISION, REVIEW_MESSAGE_ES
from triage_shared.onnx import INPUT_NAME

HEADLINE = ("macro_f1", "macro_f1_decision", "roc_auc_ovr_macro", "balanced_accuracy", "orphan_recall",
            "orphan_recall_lower", "orphan_precision", "orphan_pr_auc", "brier", "ece", "specialist_review_share")
PARAM_SECTIONS = ("split", "resample", "train", "knowledge", "evaluate")


def build_manifest(params: dict, contract: Contract, onnx_file: dict, metrics: dict, subgroups: dict,
                   training_data: dict, parity: dict, simulated: bool, cdm: dict | None = None) -> dict:
    """`onnx_file`: {file, sha256, size_bytes}; `training_data`: {file, md5, rows}; `cdm`: the CDM extraction's
    report when the contract's source is an OMOP CDM (the CDM, its version, the concept sets, the visits)."""
    model = metrics["model"]
    sections = ("simulate", *PARAM_SECTIONS) if simulated else PARAM_SECTIONS
    return {
        "name": ARTIFACT,
        "version": UNREGISTERED,
        "contract": contract.lineage(),
        "data_source": "simulated cohort" if simulated else "OMOP CDM" if cdm else "extracts",
        **({"cdm": cdm} if cdm else {}),
        "intended_use": "Triage aid for clinicians; not a diagnosis.",
        "onnx": {**onnx_file, "opset": TARGET_OPSET,
                 "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, len(contract.feature_names)],
                           "missing_value": "NaN"},
                 "outputs": {"label": "int64 [N] index into classes",
                             "probabilities": "float32 [N, n_classes] in class order"}},
        "classes": contract.class_entries(),
        "orphan_decision": contract.has_orphan,
        **({} if contract.has_orphan else {"orphan_note": NO_ORPHAN_DECISION}),
        "features": contract.feature_specs(),
        "thresholds": {"orphan": model.get("orphan_threshold"), "review": params["evaluate"]["review_threshold"],
                       "review_message_es": REVIEW_MESSAGE_ES},
        "metrics": {key: model[key] for key in HEADLINE if key in model},
        "metrics_per_class": model.get("per_class", {}),
        "orphan_operating_point": model.get("orphan_operating_point"),
        "evidence": metrics.get("evidence"),  # the case counts the gate needs for a verdict
        "subgroups": subgroups,
        "training_data": training_data,
        "params": {key: params[key] for key in sections if key in params},
        "parity": parity,
    }
