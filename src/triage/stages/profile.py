"""Stage `profile`: the training reference profile the drift monitor compares live traffic with.

Runs the exported ONNX model (the artifact the service serves) on the validation part, in batches (ONNX Runtime's
tensors for millions of rows at once took 8 GB at 10M visits), counts what the profile needs batch by batch
(`ProfileCounts`), and writes models/reference_profile.json beside the model.
"""

from __future__ import annotations

import json

import numpy as np

from triage import config
from triage.contract import contract_from_params
from triage.data.columns import LABEL_COLUMN
from triage.data.parts import batches
from triage.model.features import feature_matrix
from triage.monitoring.profile import ProfileCounts, bin_counts, build_profile
from triage.tables import read_json
from triage_shared.onnx import session as onnx_session

log = config.stage_logger("profile")


def main() -> None:
    params = config.load_params()
    manifest = read_json(config.MANIFEST)
    contract = contract_from_params(params)
    session, name = onnx_session(config.ONNX_MODEL.read_bytes()), manifest["onnx"]["input"]["name"]
    counts = ProfileCounts(manifest, params["base"]["seed"])
    for frame in batches(config.VALID, [*contract.feature_names, LABEL_COLUMN])():
        probabilities = session.run(["probabilities"], {name: feature_matrix(frame, contract)})[0]
        counts.add(frame, probabilities.astype("float64"))
    edges = {feature: numeric.edges() for feature, numeric in counts.numeric.items()}
    numeric_bins = {feature: np.zeros(len(edges[feature]) + 1, np.int64) for feature in edges}
    for frame in batches(config.VALID, list(edges))():  # second pass: exact counts over the edges
        for feature, values in frame.items():
            numeric_bins[feature] += bin_counts(values.dropna().to_numpy(np.float64), edges[feature])
    profile = build_profile(counts, numeric_bins)
    # compact: it lives in git (pull-request reports read the base branch's copy without the remote)
    text = json.dumps(profile, separators=(",", ":"), allow_nan=False) + "\n"
    config.REFERENCE_PROFILE.write_text(text, encoding="utf-8")
    log.info("reference profile of %d validation rows written to %s", profile["rows"], config.REFERENCE_PROFILE)


if __name__ == "__main__":
    main()
