"""Stage `profile`: the training reference profile the drift monitor compares live traffic with.

Runs the exported ONNX model (the artifact the service serves) on the validation part, in batches (ONNX Runtime's
tensors for millions of rows at once took 8 GB at 10M visits), and writes models/reference_profile.json beside the
model.
"""

from __future__ import annotations

import json

import pandas as pd

from triage import config
from triage.contract import contract_from_params
from triage.data.columns import LABEL_COLUMN
from triage.model.features import feature_matrix
from triage.monitoring.profile import build_profile
from triage.tables import in_batches, read_json
from triage_shared.onnx import session as onnx_session

log = config.stage_logger("profile")


def main() -> None:
    params = config.load_params()
    manifest = read_json(config.MANIFEST)
    contract = contract_from_params(params)
    frame = pd.read_parquet(config.VALID, columns=[*contract.feature_names, LABEL_COLUMN])
    session, name = onnx_session(config.ONNX_MODEL.read_bytes()), manifest["onnx"]["input"]["name"]
    probabilities = in_batches(frame, lambda part: session.run(["probabilities"],
                                                               {name: feature_matrix(part, contract)})[0])
    profile = build_profile(frame, probabilities.astype("float64"), manifest, params["base"]["seed"])
    # compact: it lives in git (pull-request reports read the base branch's copy without the remote)
    text = json.dumps(profile, separators=(",", ":"), allow_nan=False) + "\n"
    config.REFERENCE_PROFILE.write_text(text, encoding="utf-8")
    log.info("reference profile of %d validation rows written to %s", len(frame), config.REFERENCE_PROFILE)


if __name__ == "__main__":
    main()
