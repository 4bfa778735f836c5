"""Inside the job: inputs in, the stage run in this process, outputs out, the log shipped as it grows.

The stage runs exactly as `python -m triage.stages <name>` would, in a scratch copy of the repository layout that
holds only the stage's inputs, with the compute profile forced to `local` (a job never submits another). Under
spark-submit (EMR Serverless, the stand-in cluster) the stage's Spark executor uses the session of the submission
(`TRIAGE_SPARK_SUBMITTED`), and the code archive is added to it so the tasks import the same code.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from triage.cloud.settings import PROFILE_VARIABLE
from triage.cloud.spec import JobSpec
from triage.cloud.store import LOG, JobStore, jobs_uri_of, run_key
from triage.tooling.spark import SUBMITTED_VARIABLE

SHIP_EVERY_S = 10.0


class FdTee:
    """Everything written to file descriptors 1 and 2 (Python, CatBoost's C++, the JVM) also goes to a log file."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def __enter__(self) -> FdTee:
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = os.dup(1), os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        self.thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True)
        self.thread.start()
        return self

    def _pump(self, read_end: int) -> None:
        with open(self.log, "ab") as log:
            while chunk := os.read(read_end, 65536):
                os.write(self.saved[0], chunk)
                log.write(chunk)
                log.flush()
        os.close(read_end)

    def __exit__(self, *_: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)  # the pipe's last writer closed: the pump drains and ends
        self.thread.join(timeout=10)


class LogShipper:
    """Uploads the log every few seconds while the stage runs, and once more at the end (the submitter reads
    only the bytes it has not shown yet)."""

    def __init__(self, store: JobStore, run: str, log: Path) -> None:
        self.store, self.key, self.log = store, run_key(run, LOG), log
        self.stop = threading.Event()

    def ship(self) -> None:
        if self.log.exists():
            self.store.put_file(self.key, self.log)

    def _loop(self) -> None:
        while not self.stop.wait(SHIP_EVERY_S):
            self.ship()

    def __enter__(self) -> LogShipper:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=SHIP_EVERY_S)
        self.ship()


def resolve_secrets(secrets: dict[str, str]) -> None:
    """Each secret's value from Secrets Manager into the environment (never into the spec or the log)."""
    if not secrets:
        return
    import boto3

    client = boto3.client("secretsmanager")
    for variable, secret_id in secrets.items():
        os.environ[variable] = client.get_secret_value(SecretId=secret_id)["SecretString"]


def share_code_with_spark(code_zip: str) -> None:
    if os.environ.get(SUBMITTED_VARIABLE):
        from pyspark.sql import SparkSession

        SparkSession.builder.getOrCreate().sparkContext.addPyFile(code_zip)


def run_stage(spec: JobSpec, store: JobStore, workdir: Path, code_zip: str) -> int:
    print(f"job {spec.run_id}: stage {spec.stage} on {spec.target}, {len(spec.inputs)} input file(s)", flush=True)
    store.get_inputs(spec.inputs, workdir)
    os.chdir(workdir)
    os.environ.update(spec.environment)
    os.environ[PROFILE_VARIABLE] = "local"
    resolve_secrets(spec.secrets)
    share_code_with_spark(code_zip)
    from triage.stages.__main__ import run

    code = run(spec.stage)
    if code == 0:
        manifest = store.put_outputs(spec.run_id, spec.outputs, workdir)
        print(f"job {spec.run_id}: {len(manifest)} output file(s) uploaded", flush=True)
    return code


def run_spec(spec_uri: str, code_zip: str) -> int:
    store = JobStore(jobs_uri_of(spec_uri))
    spec = JobSpec.from_json(store.get_bytes(store.key_of(spec_uri)).decode())
    workdir = Path(tempfile.mkdtemp(prefix=f"triage-{spec.stage}-"))
    log = workdir.parent / f"{workdir.name}.log"
    started = time.monotonic()
    with LogShipper(store, spec.run_id, log), FdTee(log):
        try:
            code = run_stage(spec, store, workdir, code_zip)
        except Exception:  # a defect: its traceback goes to the log the submitter shows
            traceback.print_exc()
            code = 1
        print(f"job {spec.run_id}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code
