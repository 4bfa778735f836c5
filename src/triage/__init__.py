"""triage: reproducible clinical triage with DVC, CatBoost and ONNX — the training side.

contract (the data contract file), data (extracts, the row kernel, the global queries, validation, split,
resampling), executors (local and Spark), simulation (the default source), model (estimators, ONNX export,
manifest), evaluation (metrics, plots), stages (thin DVC entry points), monitoring (drift), release (gate,
registry, card, promotion, retrain, CI report), tooling (local servers, demo), cli.
What serving shares with training lives in the separate package `triage_shared`.
"""

__version__ = "0.1.0"

