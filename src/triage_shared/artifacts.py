"""The model artifact: its registry name and its files, in the repository (DVC outputs) and in the bucket."""

from __future__ import annotations

ARTIFACT = "triage-model"  # the name in dvc.yaml `artifacts:`, artifacts.yaml (GTO) and the registry tags

# repository paths (DVC outputs of the export and profile stages)
ONNX_PATH = "models/triage.onnx"
MANIFEST_PATH = "models/manifest.json"
PROFILE_PATH = "models/reference_profile.json"  # the drift monitor's training reference for this model

# file names beside each other under triage_shared.bucket.model_prefix(env)
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
CARD_FILE = "model-card.md"
PROFILE_FILE = "reference_profile.json"
UNREGISTERED = "unregistered"  # a manifest's version until `triage publish` records the registry's
