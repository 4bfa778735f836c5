"""The triage prediction service: FastAPI on ONNX Runtime. Imports no training code."""
