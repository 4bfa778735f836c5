"""triage: reproducible clinical triage with DVC, CatBoost and ONNX."""

__version__ = "0.1.0"
