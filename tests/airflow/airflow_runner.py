"""Run by tests/airflow with the Airflow virtualenv's python (the project's venv has no Airflow):

    python airflow_runner.py check              DagBag integrity: import errors, parse time, heavy modules loaded
    python airflow_runner.py run [CONF_JSON]    one in-process run of triage_intake (dag.test, as `airflow dags test`)

Prints one line `RESULT {json}` for the test to read; everything else is Airflow's and the tasks' log.
"""

from __future__ import annotations

import json
import os
import sys
import time

DAG_ID = "triage_intake"
HEAVY = ("pandas", "pandera", "pyarrow", "triage", "botocore")  # none of them at parse time


def check() -> dict:
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    imported = time.perf_counter()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    finished = time.perf_counter()
    dag = bag.dags.get(DAG_ID)
    return {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
            "dag_ids": sorted(bag.dags),
            "file_parse_seconds": {os.path.basename(str(s.file)): s.duration.total_seconds()
                                   for s in bag.dagbag_stats},
            "dagbag_seconds": round(finished - imported, 3), "airflow_import_seconds": round(imported - started, 3),
            "heavy_modules_loaded": [name for name in HEAVY if name in sys.modules],
            "tasks": sorted(dag.task_ids) if dag else [],
            "schedule": str(getattr(dag, "schedule", None)) if dag else None,
            "max_active_runs": dag.max_active_runs if dag else None}


def run(conf: dict) -> dict:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.cli import get_bagged_dag
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag = get_bagged_dag(None, DAG_ID)
    started = time.perf_counter()
    run = dag.test(run_conf=conf or None)
    seconds = time.perf_counter() - started
    with create_session() as session:
        instances = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == DAG_ID,
                                                               TaskInstance.run_id == run.run_id)).all()
        tasks = {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id:
                 {"state": str(ti.state), "label": ti.rendered_map_index,
                  "seconds": round(ti.duration or 0.0, 2)} for ti in instances}
    return {"run_id": run.run_id, "state": str(run.state), "seconds": round(seconds, 1), "tasks": tasks}


def main() -> int:
    action = sys.argv[1]
    result = check() if action == "check" else run(json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
