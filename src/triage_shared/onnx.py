"""The ONNX Runtime session the model is scored with, the same in the export's parity check, the reference profile,
the promotion check and the service: one thread per session (the service scales with processes, and a second
intra-op thread costs a core for little), CPU provider."""

from __future__ import annotations

INPUT_NAME = "features"  # the graph's one float input [N, n_features], in the contract's feature order


def session(model_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
