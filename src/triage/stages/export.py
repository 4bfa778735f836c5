"""Stage `export`: ONNX model + manifest, after a parity check of ONNX Runtime against the native pipeline.

The manifest is what travels with the model: checksum, classes, the data contract's identity and feature list (from
which the service builds its request model, OpenAPI document and form), thresholds, headline metrics, the
training-data hash, git revision and params. Nothing of the simulator appears unless the model was trained on it.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import joblib
import numpy as np
import pandas as pd

from triage import config
from triage.contract import Contract, contract_from_params
from triage.features import feature_matrix
from triage.onnx_export import INPUT_NAME, TARGET_OPSET, check_parity, to_onnx
from triage.schema import NO_ORPHAN_DECISION, REVIEW_MESSAGE_ES, VISIT_ID
from triage.tables import file_digest, read_json, write_json

HEADLINE = ("macro_f1", "roc_auc_ovr_macro", "balanced_accuracy", "orphan_recall", "orphan_recall_lower",
            "orphan_precision", "orphan_pr_auc", "brier", "ece", "specialist_review_share")
log = config.stage_logger("export")


def git_revision() -> dict:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    revision = run("rev-parse", "HEAD")
    return {"revision": revision or "unknown", "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}


def build_manifest(params: dict, contract: Contract, onnx_sha256: str, metrics: dict, parity: dict) -> dict:
    model = metrics["model"]
    git = git_revision()
    simulated = bool(read_json(config.INGEST_STATS).get("simulated"))
    thresholds = {"orphan": model.get("orphan_threshold"), "review": params["evaluate"]["review_threshold"],
                  "review_message_es": REVIEW_MESSAGE_ES}
    sections = ("simulate", "split", "resample", "train", "evaluate") if simulated else \
        ("split", "resample", "train", "evaluate")
    return {
        "name": params["export"]["model_name"],
        "version": f"0.0.0+g{git['revision'][:8]}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "contract": contract.lineage(),
        "data_source": "simulated cohort" if simulated else "extracts",
        "intended_use": "Triage aid for clinicians; not a diagnosis.",
        "onnx": {"file": config.ONNX_MODEL.name, "sha256": onnx_sha256, "size_bytes": config.ONNX_MODEL.stat().st_size,
                 "opset": TARGET_OPSET,
                 "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, len(contract.feature_names)],
                           "missing_value": "NaN"},
                 "outputs": {"label": "int64 [N] index into classes",
                             "probabilities": "float32 [N, n_classes] in class order"}},
        "classes": contract.class_entries(),
        "orphan_decision": contract.has_orphan,
        **({} if contract.has_orphan else {"orphan_note": NO_ORPHAN_DECISION}),
        "features": contract.feature_specs(),
        "thresholds": thresholds,
        "metrics": {key: model[key] for key in HEADLINE if key in model},
        "metrics_per_class": model.get("per_class", {}),
        "subgroups": read_json(config.REPORTS / "subgroups.json"),
        "training_data": {"file": str(config.TRAIN), "md5": file_digest(config.TRAIN, "md5"),
                          "rows": int(pd.read_parquet(config.TRAIN, columns=[VISIT_ID]).shape[0])},
        "git": git,
        "params": {key: params[key] for key in sections},
        "parity": parity,
    }


def main() -> None:
    params = config.load_params()
    settings = params["export"]
    contract = contract_from_params(params)
    pipeline = joblib.load(config.MODEL_BUNDLE)["pipeline"]
    model_bytes = to_onnx(pipeline, len(contract.feature_names)).SerializeToString()
    test = pd.read_parquet(config.TEST)
    rows = np.random.default_rng(params["base"]["seed"]).permutation(len(test))[: settings["parity_rows"]]
    parity = check_parity(pipeline, model_bytes, feature_matrix(test.iloc[rows], contract),
                          settings["parity_tolerance"])
    config.ONNX_MODEL.write_bytes(model_bytes)
    manifest = build_manifest(params, contract, file_digest(config.ONNX_MODEL),
                              read_json(config.REPORTS / "metrics.json"), parity)
    write_json(manifest, config.MANIFEST)
    log.info("wrote %s (%d KB, sha256 %s…); parity on %d rows: max |dp| %.1e", config.ONNX_MODEL,
             len(model_bytes) // 1024, manifest["onnx"]["sha256"][:12], parity["rows"],
             parity["max_abs_probability_difference"])


if __name__ == "__main__":
    main()
