"""The model: the feature matrix from a clean table (features), the estimators and baselines behind the contract's
imputation (estimators, two_stage), fitting reproducibly (training), the ONNX export and its parity check (onnx), and
the manifest written at export (manifest)."""
