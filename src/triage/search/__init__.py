"""Hyperparameter search: cross-validation on the training and validation parts (cv) and a guided Optuna search whose
trials are DVC experiments (study, `triage search`)."""
