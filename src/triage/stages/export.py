"""Stage `export`: the ONNX model and its manifest (triage.model.onnx, triage.model.manifest_writer), after a parity
check of ONNX Runtime against the native pipeline on held-out rows; the stage fails when they disagree."""

from __future__ import annotations

import joblib
import numpy as np

from triage import config
from triage.contract import contract_from_params
from triage.data.columns import VISIT_ID
from triage.data.parts import output_digest, read_frame
from triage.model.features import feature_matrix
from triage.model.manifest_writer import build_manifest
from triage.model.onnx import check_parity, to_onnx
from triage.tables import file_digest, read_json, write_json

log = config.stage_logger("export")


def main() -> None:
    params = config.load_params()
    settings = params["export"]
    contract = contract_from_params(params)
    pipeline = joblib.load(config.MODEL_BUNDLE)["pipeline"]
    model_bytes = to_onnx(pipeline, len(contract.feature_names)).SerializeToString()
    test = read_frame(config.TEST, columns=list(contract.feature_names))
    rows = np.random.default_rng(params["base"]["seed"]).permutation(len(test))[: settings["parity_rows"]]
    parity = check_parity(pipeline, model_bytes, feature_matrix(test.iloc[rows], contract),
                          settings["parity_tolerance"])
    config.ONNX_MODEL.write_bytes(model_bytes)
    onnx_file = {"file": config.ONNX_MODEL.name, "sha256": file_digest(config.ONNX_MODEL),
                 "size_bytes": len(model_bytes)}
    training_data = {"file": str(config.TRAIN), "md5": output_digest(config.TRAIN),
                     "rows": int(read_frame(config.TRAIN, columns=[VISIT_ID]).shape[0])}
    ingest_stats = read_json(config.INGEST_STATS)
    manifest = build_manifest(params, contract, onnx_file, read_json(config.METRICS),
                              read_json(config.REPORTS / "subgroups.json"), training_data, parity,
                              simulated=bool(ingest_stats.get("simulated")), cdm=ingest_stats.get("cdm"))
    write_json(manifest, config.MANIFEST)
    log.info("wrote %s (%d KB, sha256 %s…); parity on %d rows: max |dp| %.1e", config.ONNX_MODEL,
             len(model_bytes) // 1024, onnx_file["sha256"][:12], parity["rows"],
             parity["max_abs_probability_difference"])


if __name__ == "__main__":
    main()
