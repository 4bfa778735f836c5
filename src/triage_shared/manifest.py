"""Reading the manifest that travels with a model: its classes, thresholds and lineage.

`export` writes the manifest (only what follows from the pipeline's inputs, so a fresh clone reproduces it to the
bit); `triage publish` adds what becomes true at publish time (registry version and stage, the commit, the time).
"""

from __future__ import annotations

from triage_shared.artifacts import UNREGISTERED
from triage_shared.classes import orphan_index


def class_codes(manifest: dict) -> list[str]:
    return [entry["code"] for entry in manifest["classes"]]


def orphan_threshold(manifest: dict) -> float | None:
    """The tuned orphan threshold, None for a model whose data has no orphan class."""
    return None if orphan_index(class_codes(manifest)) is None else float(manifest["thresholds"]["orphan"])


def lineage(manifest: dict, stage: str | None = None) -> dict:
    """What every answer and log line says about the model that gave it."""
    registry = manifest.get("registry", {})
    contract = manifest.get("contract", {})
    return {"name": manifest["name"], "version": registry.get("version", manifest.get("version", UNREGISTERED)),
            "stage": registry.get("stage", stage), "git_revision": registry.get("commit"),
            "training_data_md5": manifest.get("training_data", {}).get("md5"),
            "contract": f"{contract.get('name')} {contract.get('version')}", "sha256": manifest["onnx"]["sha256"]}
