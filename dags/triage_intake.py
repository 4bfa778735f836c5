"""Batch intake of EHR extracts (`triage_intake`): daily, and on demand.

1. **find_extracts** lists `s3://BUCKET/raw/<site>/` and keeps the extracts (CSV, Parquet) not processed yet, keyed by
   object key + ETag (the records under `monitoring/intake/extracts/` say what is done: re-runs process nothing twice);
2. **check_extract**, one mapped task per extract: the pipeline's own ingest and validation under the working clone's
   data contract (`params.yaml: data.contract`), identifiers pseudonymised with the key of the connection
   `triage_pseudonym_key`; accounting (rows in / clean / quarantined / duplicates, reasons by rule) to
   `monitoring/intake/extracts/<site>/<name>/<etag>/` and to the task log; over `validate.max_bad_fraction` the
   extract is moved to `raw/rejected/<site>/` with the reason and its task fails, alone;
3. **land_accepted** copies the accepted extracts into the working clone (`data/raw/incoming/<site>/`), `dvc add`,
   git commit, `dvc push`;
4. **decide_retraining**: new labelled rows since the last registered model >= `intake.retrain_min_new_rows`, or the
   latest drift report of `intake.drift_env` found drift: the decision and its reasons go to
   `monitoring/intake/runs/<run>.json` and `monitoring/intake/latest-run.json`;
5. **retrain** runs `triage retrain --push <intake.dvc_remote>` in the clone (repro, gate, register, promote to dev —
   never prod), or is skipped with the reason.

Nothing heavy is imported when the file is parsed: the work lives in `triage.intake` (imported inside the tasks).
Connections: `triage_s3` (login = access key, password = secret, extra `{"endpoint_url": ..., "region_name": ...}`;
empty login for a role) and `triage_pseudonym_key` (password = the HMAC key). See dags/README.md.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseHook, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

PARAMS = {
    "working_clone": Param(os.environ.get("TRIAGE_INTAKE_CLONE", ""), type="string",
                           description="the git + DVC checkout of the project this worker owns (lands and retrains "
                                       "there)"),
    "bucket": Param(os.environ.get("TRIAGE_BUCKET", "triage"), type="string", description="the deployment's bucket"),
    "tools_bin": Param(os.environ.get("TRIAGE_TOOLS_BIN", ""), type="string",
                       description="bin/ of the project's install (dvc, gto, triage); empty: PATH"),
    "s3_conn_id": Param("triage_s3", type="string", description="connection to the bucket"),
    "key_conn_id": Param("triage_pseudonym_key", type="string",
                         description="connection whose password is the pseudonymisation key"),
}
DEFAULT_ARGS = {"owner": "triage", "retries": int(os.environ.get("TRIAGE_INTAKE_RETRIES", "1")),
                "retry_delay": timedelta(minutes=5)}


def _connection(conn_id: str, what: str):
    try:
        return BaseHook.get_connection(conn_id)
    except Exception as error:  # AirflowNotFoundException and secret-backend errors alike
        raise AirflowFailException(f"connection {conn_id!r} ({what}) is not available: {error}") from error


def _s3(params: dict):
    from triage.intake.bucket import S3Settings

    connection = _connection(params["s3_conn_id"], "the bucket")
    return S3Settings.from_connection(params["bucket"], connection.login, connection.password,
                                      connection.extra_dejson or {})


def _bucket(params: dict):
    from triage.intake.bucket import IntakeBucket

    return IntakeBucket.connect(_s3(params))


def _pseudonym_key(params: dict) -> str:
    key = _connection(params["key_conn_id"], "the pseudonymisation key").password
    if not key:
        raise AirflowFailException(f"connection {params['key_conn_id']!r} has no password: it must hold the HMAC key "
                                   "for identifiers (TRIAGE_PSEUDONYM_KEY)")
    return key


def _intake(context: Any):
    from pathlib import Path

    from triage.intake.bucket import IntakeBucket
    from triage.intake.flow import Intake

    params = context["params"]
    if not params["working_clone"]:
        raise AirflowFailException("no working clone: set the DAG param working_clone or $TRIAGE_INTAKE_CLONE")
    s3 = _s3(params)
    return Intake.open(IntakeBucket.connect(s3), Path(params["working_clone"]),
                       Path(params["tools_bin"]) if params["tools_bin"] else None, context["run_id"],
                       s3.tool_environment())


@dag(dag_id="triage_intake", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False,
     max_active_runs=1, default_args=DEFAULT_ARGS, params=PARAMS, tags=["triage", "intake"], doc_md=__doc__)
def triage_intake() -> None:
    @task
    def find_extracts() -> list[dict]:
        from triage.intake.flow import find_extracts as find

        return find(_bucket(get_current_context()["params"]))

    @task(map_index_template="{{ extract_key }}", max_active_tis_per_dagrun=2)
    def check_extract(extract: dict) -> dict:
        from triage.intake.flow import check_one
        from triage.intake.layout import ExtractObject

        context = get_current_context()
        context["extract_key"] = extract["key"]  # type: ignore[typeddict-unknown-key]  # the map index's label
        accounting = check_one(_intake(context), ExtractObject.from_dict(extract),
                               _pseudonym_key(context["params"]))
        if accounting["status"] != "accepted":
            raise AirflowFailException(accounting["refusal"])  # this extract only: the others go on
        return {key: accounting[key] for key in ("rows_in", "rows_clean", "rows_quarantined", "rows_duplicate")}

    @task(trigger_rule="all_done")  # after every check, refused ones included
    def land_accepted() -> dict:
        from triage.intake.flow import land_accepted as land

        return land(_intake(get_current_context()))

    @task
    def decide_retraining(found: list[dict], landing: dict) -> dict:
        from triage.intake.flow import decide_retraining as decide

        return decide(_intake(get_current_context()), found, landing)

    @task(retries=0, execution_timeout=timedelta(hours=4))
    def retrain(record: dict) -> dict:
        from triage.intake.flow import retrain as run_retrain

        decision = record["retrain_decision"]
        if not decision["triggered"]:
            raise AirflowSkipException("not triggered: " + " | ".join(decision["reasons"]))
        context = get_current_context()
        outcome = run_retrain(_intake(context), _pseudonym_key(context["params"]))
        if outcome["exit_code"] != 0:
            raise AirflowFailException(outcome["verdict"])
        return outcome

    found = find_extracts()
    landing = land_accepted()
    check_extract.expand(extract=found) >> landing
    retrain(decide_retraining(found, landing))


triage_intake()
