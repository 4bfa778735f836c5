"""Submit one heavy stage and wait: what `python -m triage.stages <name>` does under a cloud compute profile.

The outputs land where the stage would have written them, checked against the job's manifest, and only then does
the command succeed: DVC hashes them and writes dvc.lock exactly as after a local run, so `dvc exp`, `dvc push`, the
PR report and the gate see no difference. A failed, cancelled or timed-out job ends the command with the job's own
reason and its last log line, and DVC records nothing.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from triage.cloud.backends import RUN_JOB, Backend, JobState, backend_for
from triage.cloud.settings import ComputeSettings
from triage.cloud.spec import JobSpec, stage_files
from triage.cloud.store import JobStore
from triage.errors import UserError
from triage.tooling.spark import MASTER_ENV
from triage_shared.bucket import STAGES

PASSED_ENVIRONMENT = ("TRIAGE_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")
SECRET_VARIABLES = {"TRIAGE_PSEUDONYM_KEY": "TRIAGE_PSEUDONYM_KEY_SECRET"}  # value <- Secrets Manager id from
PSEUDONYMISING_STAGES = ("ingest",)  # the only job whose role may read the key (infra: compute_roles.py)
GRACE_S = 120  # beyond the job's own timeout, before the submitter cancels it itself
Progress = Callable[[str], None]


class JobFailed(UserError):
    """The job ended without verified outputs."""


def jobs_uri(profile: str) -> str:
    if profile == "aws":
        bucket = os.environ.get("TRIAGE_BUCKET")
        if not bucket:
            raise UserError("compute profile aws: TRIAGE_BUCKET is not set (the data bucket of triage-shared)")
        return f"s3://{bucket}/jobs"
    return os.environ.get("TRIAGE_JOBS_URI", ".triage/jobs")


def spark_master(params: dict[str, Any]) -> str | None:
    """data.executor's master, else $TRIAGE_SPARK_MASTER (no default: the stand-in needs a cluster). Read here,
    not through triage.executors, which every stage would then depend on."""
    executor = (params.get("data") or {}).get("executor")
    from_params = executor.get("master") if isinstance(executor, dict) else None
    return from_params or os.environ.get(MASTER_ENV)


def check_spark_store(params: dict[str, Any]) -> None:
    """EMR Serverless runs Spark's executors on other hosts than the driver: the data stages' rows must be kept in
    the bucket (data.executor.store), under the one prefix the EMR job role may write."""
    executor = (params.get("data") or {}).get("executor")
    store = str(executor.get("store") or "") if isinstance(executor, dict) else ""
    expected = f"s3://{os.environ.get('TRIAGE_BUCKET')}/{STAGES}"
    if not store:
        raise UserError(f"data.executor.store is not set: EMR Serverless runs Spark's executors on other hosts than "
                        f"the driver, so the data stages keep their rows in the bucket; set it to {expected[:-1]}")
    if not f"{store.rstrip('/')}/".startswith(expected):
        raise UserError(f"data.executor.store: {store} is outside {expected} (the only prefix the EMR job role may "
                        f"write)")


def job_spec(stage: str, target: str, settings: ComputeSettings, store: JobStore, root: Path,
             progress: Progress) -> JobSpec:
    files = stage_files(stage, root)
    size = sum((root / path).stat().st_size for path in files.inputs)
    progress(f"{stage}: {len(files.inputs)} input file(s), {size / 1e6:.1f} MB, to {store.uri} (by content: "
             f"only new ones upload)")
    secrets = {variable: os.environ[source] for variable, source in SECRET_VARIABLES.items()
               if settings.profile == "aws" and stage in PSEUDONYMISING_STAGES and os.environ.get(source)}
    return JobSpec(stage=stage, run_id=f"{time.strftime('%Y%m%dT%H%M%S')}-{stage}-{uuid.uuid4().hex[:8]}",
                   target=target, jobs_uri=store.uri, code=store.put_code(root / "src"),
                   inputs=store.put_inputs(files.inputs, root), outputs=files.outputs,
                   timeout_minutes=settings.timeout_minutes[target], resources=settings.resources[target],
                   environment={k: os.environ[k] for k in PASSED_ENVIRONMENT if os.environ.get(k)},
                   secrets=secrets)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no log)"


def follow(backend: Backend, job_id: str, spec: JobSpec, store: JobStore, poll_s: float, grace_s: float,
           progress: Progress) -> tuple[JobState, str]:
    """The job's state changes and new log lines as they come, until it ends; past its timeout (and a grace for
    the service's own timeout to act) the submitter cancels it."""
    started, last, log = time.monotonic(), None, b""
    deadline = spec.timeout_minutes * 60 + grace_s
    while True:
        state = backend.state(job_id)
        if state != last:
            progress(f"{spec.stage}: {backend.describe(job_id)} {state.state}"
                     f"{': ' + state.reason if state.reason else ''} ({time.monotonic() - started:.0f} s)")
            last = state
        shown = log.rfind(b"\n") + 1  # complete lines only: a partial one waits for its end
        log += store.log_since(spec.run_id, len(log))
        for line in log[shown:log.rfind(b"\n") + 1].decode("utf-8", "replace").splitlines():
            progress(f"  | {line}")
        if state.done:
            return state, log.decode("utf-8", "replace")
        if time.monotonic() - started > deadline:
            backend.cancel(job_id, f"triage: no end after {spec.timeout_minutes:g} min (compute timeout)")
            raise JobFailed(f"stage {spec.stage}: {backend.describe(job_id)} exceeded its timeout of "
                            f"{spec.timeout_minutes:g} min and was cancelled; last log line: "
                            f"{last_line(log.decode('utf-8', 'replace'))}")
        time.sleep(poll_s)


def place_outputs(spec: JobSpec, store: JobStore, root: Path, progress: Progress) -> None:
    if not store.has_outputs(spec.run_id):
        raise JobFailed(f"stage {spec.stage}: job {spec.run_id} ended well but wrote no output manifest: "
                        f"nothing is recorded")
    for output in spec.outputs:  # as DVC does before a stage runs: no stale file survives in an output folder
        path = root / output
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    manifest = store.get_outputs(spec.run_id, root)
    progress(f"{spec.stage}: {len(manifest)} output file(s) in place, sha256 checked")


def submit_stage(stage: str, params: dict[str, Any], settings: ComputeSettings, root: Path = Path("."),
                 progress: Progress = print) -> None:
    target = settings.target(stage)
    if target is None:
        raise ValueError(f"stage {stage} runs here under profile {settings.profile}")
    backend = backend_for(settings.profile, target, spark_master(params))  # configuration refused before upload
    store = JobStore(jobs_uri(settings.profile))
    if settings.profile == "aws" and target == "spark":
        check_spark_store(params)
    spec = job_spec(stage, target, settings, store, root, progress)
    store.put_bytes(store.key_of(spec.spec_uri), spec.to_json().encode())
    store.put_bytes(store.key_of(spec.bootstrap_uri), RUN_JOB.read_bytes())
    job_id = backend.submit(spec)
    grace = GRACE_S if settings.profile == "aws" else 0.0  # the service's own timeout acts first
    try:
        state, log = follow(backend, job_id, spec, store, settings.poll_seconds, grace, progress)
    except KeyboardInterrupt:  # Ctrl-C in dvc repro (SIGINT): the job is stopped, not left running unwatched
        backend.cancel(job_id, "triage: the submitter was interrupted")
        progress(f"{stage}: interrupted; {backend.describe(job_id)} cancelled")
        raise
    if not state.succeeded:
        raise JobFailed(f"stage {stage}: {backend.describe(job_id)} {state.state}"
                        f"{' (' + state.reason + ')' if state.reason else ''}; last log line: {last_line(log)}")
    place_outputs(spec, store, root, progress)
