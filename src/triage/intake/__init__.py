"""Batch intake of EHR extracts: what the Airflow DAG `triage_intake` (dags/triage_intake.py) runs, without Airflow.

Extracts arrive in the bucket under `raw/<site>/`. Each one, keyed by its object key and ETag, is checked once with
the pipeline's own ingest and validation code under the working clone's data contract; its accounting goes to
`monitoring/intake/extracts/<site>/<name>/<etag>/`; a refused one is moved to `raw/rejected/<site>/` with the reason;
accepted ones are landed in the working clone's `data/raw/incoming/<site>/` (`dvc add`, git commit, `dvc push`);
then the retraining decision (new labelled rows since the last model, or drift) runs `triage retrain` or records
why not. Modules:

- `layout`   the bucket layout and the names of things (stdlib only);
- `bucket`   a small S3 client wrapper (botocore);
- `ledger`   which extracts are new, awaiting landing, landed or refused (the records in the bucket);
- `check`    ingest + validation of one extract under the contract (pandas, pandera: imported when used);
- `landing`  the working clone: copy, `dvc add`, commit, `dvc push`;
- `retrain_decision` whether to retrain (enough new labelled rows, or drift) and `triage retrain` as a command;
- `flow`     the steps the DAG's tasks call, one function per task;
- `drop`     put extracts under raw/<site>/ (`triage intake drop`: demo, tests, operators).
"""

from __future__ import annotations


class IntakeError(RuntimeError):
    """A failure of the intake machinery (not of an extract): the message names the object, command or setting."""
