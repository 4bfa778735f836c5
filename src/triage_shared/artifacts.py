"""The model artifact: its registry name and its files, in the repository (DVC outputs) and in the bucket."""

from __future__ import annotations

ARTIFACT = "triage-model"  # the name in dvc.yaml `artifacts:`, artifacts.yaml (GTO) and the registry tags

# repository paths (DVC outputs of the export and profile stages)
ONNX_PATH = "models/triage.onnx"
MANIFEST_PATH = "models/manifest.json"
PROFILE_PATH = "models/reference_profile.json"  # the drift monitor's training reference for this model

# file names beside each other in s3://BUCKET/models/triage/<stage>/
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
CARD_FILE = "model-card.md"
PROFILE_FILE = "reference_profile.json"
STAGES = ("dev", "prod")
UNREGISTERED = "unregistered"  # a manifest's version until `triage publish` records the registry's


def model_prefix(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    return f"models/triage/{stage}/"
