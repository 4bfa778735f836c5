"""What training and serving must agree on, in one slim package both import (standard library, numpy, botocore;
onnxruntime only when a session is made). The service installs it with itself and imports nothing else of the
training stack.

- `artifacts`: the model artifact's name and its files, in the repository and in the bucket;
- `classes`: the product's triage classes, their Spanish labels and the review message;
- `bucket`: the data bucket's layout, every prefix and the environments (dev, prod);
- `decision`: the product's decision rule (orphan threshold, then the most probable class);
- `manifest`: reading the manifest that travels with a model (classes, thresholds, lineage);
- `onnx`: the ONNX Runtime session both sides score with;
- `predlog`: the prediction log (file name, the record of one prediction, its segments in the bucket);
- `pseudonym`: the keyed hash of identifiers (HMAC-SHA256);
- `spellings`: the one normaliser of written values (category and binary spellings, missing-value codes) that
  ingest and the service share;
- `store`: the model bucket (layout, publish order, verified pull).
"""
