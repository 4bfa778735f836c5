"""The data bucket's layout, one owner for every prefix (standard library only: the service imports it too).

```
raw/<site>/<name>                  extracts as sites drop them; the batch intake reads them (triage.intake.layout)
dvc/                               the DVC remote: data and model versions
models/triage/<env>/               the model published for an environment: model.onnx, manifest.json, model-card.md,
                                   reference_profile.json (triage_shared.store)
predictions/<env>/                 the service's prediction log, pushed in segments (triage_shared.predlog)
monitoring/<env>/<stamp>/          the drift monitor's reports (triage.monitoring.monitor; the intake reads them)
monitoring/intake/                 the batch intake's records (triage.intake.layout)
jobs/                              cloud jobs: inputs/, code/, runs/<run>/{job.json, logs/, outputs/} (triage.cloud)
stages/                            the Spark executor's store (data.executor.store): the data stages' rows as
                                   parts/<sha256>.parquet, local extracts as extracts/<sha256>.<suffix>
                                   (triage.data.parts); DVC versions the manifests that name them
```

The infrastructure scopes each role to these prefixes (infra/triage_infra/environments.py, which cannot import the
project); tests/code/test_bucket_layout.py proves the two agree.
"""

from __future__ import annotations

ENVIRONMENTS = ("dev", "prod")  # where a model is served: TRIAGE_ENV, the bucket prefixes, the GitHub environments

RAW = "raw/"
DVC = "dvc/"
MODELS = "models/triage/"
PREDICTIONS = "predictions/"
MONITORING = "monitoring/"
INTAKE = MONITORING + "intake/"
JOBS = "jobs/"
JOB_OUTPUTS = JOBS + "runs/*/outputs/"  # what a job may write (IAM patterns: one run's outputs and log)
JOB_LOGS = JOBS + "runs/*/logs/"
STAGES = "stages/"


def checked_environment(env: str) -> str:
    if env not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    return env


def model_prefix(env: str) -> str:
    return f"{MODELS}{checked_environment(env)}/"


def predictions_prefix(env: str) -> str:
    return f"{PREDICTIONS}{checked_environment(env)}/"


def monitoring_prefix(env: str) -> str:
    return f"{MONITORING}{checked_environment(env)}/"
