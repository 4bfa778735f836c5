"""Where a job runs: EMR Serverless and AWS Batch (profile `aws`), or the local stand-in (profile `standin`).

A backend submits a specification, reports the job's state, and cancels it. States are the service's own words
(EMR Serverless: SUBMITTED PENDING SCHEDULED RUNNING SUCCESS FAILED CANCELLING CANCELLED; Batch: SUBMITTED PENDING
RUNNABLE STARTING RUNNING SUCCEEDED FAILED), with the service's reason when a job ends badly.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from triage.cloud.spec import JobSpec
from triage.errors import UserError
from triage.tooling.spark import SUBMITTED_VARIABLE

SUCCEEDED = {"SUCCESS", "SUCCEEDED"}
FAILED = {"FAILED", "CANCELLED"}
RUN_JOB = Path(__file__).with_name("run_job.py")


@dataclass(frozen=True)
class JobState:
    state: str
    reason: str = ""

    @property
    def done(self) -> bool:
        return self.state in SUCCEEDED | FAILED

    @property
    def succeeded(self) -> bool:
        return self.state in SUCCEEDED


class Backend(Protocol):
    def submit(self, spec: JobSpec) -> str: ...
    def state(self, job_id: str) -> JobState: ...
    def cancel(self, job_id: str, reason: str) -> None: ...
    def describe(self, job_id: str) -> str: ...


def required(variable: str, why: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise UserError(f"compute profile aws: {variable} is not set ({why}; a stack output of triage-compute, "
                        f"set as a GitHub variable, see infra/README.md)")
    return value


def aws_client(service: str):
    import boto3

    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise UserError("compute profile aws: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                        "AWS_PROFILE, or assume the CI role)")
    if session.region_name is None:
        raise UserError("compute profile aws: no AWS region (set AWS_REGION)")
    return session.client(service)  # AWS_ENDPOINT_URL (moto, a stand-in) is honoured by botocore itself


def spark_conf(resources: dict) -> list[str]:
    names = {"executor_cores": "spark.executor.cores", "executor_memory": "spark.executor.memory",
             "driver_memory": "spark.driver.memory", "max_executors": "spark.dynamicAllocation.maxExecutors"}
    return [f"{names[key]}={value}" for key, value in sorted(resources.items()) if key in names]


class EmrServerless:
    """Spark stages as EMR Serverless job runs on the application of the triage-compute stack."""

    def __init__(self) -> None:
        self.application = required("TRIAGE_EMR_APPLICATION_ID", "the EMR Serverless application")
        self.role = required("TRIAGE_EMR_JOB_ROLE_ARN", "the job runtime role")
        self.log_group = os.environ.get("TRIAGE_EMR_LOG_GROUP")
        self.client = aws_client("emr-serverless")
        try:
            self.client.get_application(applicationId=self.application)
        except self.client.exceptions.ResourceNotFoundException:
            raise UserError(f"compute profile aws: EMR Serverless application {self.application} does not exist "
                            f"in {self.client.meta.region_name} (TRIAGE_EMR_APPLICATION_ID; is triage-compute "
                            f"deployed?)") from None

    def submit(self, spec: JobSpec) -> str:
        conf = [*spark_conf(spec.resources), f"spark.emr-serverless.driverEnv.{SUBMITTED_VARIABLE}=1"]
        overrides: dict = {}
        if self.log_group:
            overrides["monitoringConfiguration"] = {"cloudWatchLoggingConfiguration": {
                "enabled": True, "logGroupName": self.log_group, "logStreamNamePrefix": spec.run_id}}
        response = self.client.start_job_run(
            applicationId=self.application, executionRoleArn=self.role, name=f"triage-{spec.stage}-{spec.run_id}",
            jobDriver={"sparkSubmit": {"entryPoint": spec.bootstrap_uri, "entryPointArguments": [spec.spec_uri],
                                       "sparkSubmitParameters": " ".join(f"--conf {c}" for c in conf)}},
            configurationOverrides=overrides, executionTimeoutMinutes=max(1, math.ceil(spec.timeout_minutes)),
            tags={"triage-stage": spec.stage, "triage-run": spec.run_id})
        return response["jobRunId"]

    def state(self, job_id: str) -> JobState:
        run = self.client.get_job_run(applicationId=self.application, jobRunId=job_id)["jobRun"]
        return JobState(run["state"], run.get("stateDetails") or "")

    def cancel(self, job_id: str, reason: str) -> None:
        self.client.cancel_job_run(applicationId=self.application, jobRunId=job_id)

    def describe(self, job_id: str) -> str:
        return f"EMR Serverless job run {job_id} (application {self.application})"


class Batch:
    """The training stage as an AWS Batch job (Fargate, the jobs image, its timeout) of the triage-compute stack."""

    def __init__(self) -> None:
        self.queue = required("TRIAGE_TRAINING_JOB_QUEUE", "the AWS Batch job queue")
        self.definition = required("TRIAGE_TRAINING_JOB_DEFINITION", "the AWS Batch job definition")
        self.client = aws_client("batch")
        if not self.client.describe_job_queues(jobQueues=[self.queue])["jobQueues"]:
            raise UserError(f"compute profile aws: AWS Batch job queue {self.queue} does not exist in "
                            f"{self.client.meta.region_name} (TRIAGE_TRAINING_JOB_QUEUE; is triage-compute "
                            f"deployed?)")

    def submit(self, spec: JobSpec) -> str:
        resources = spec.resources
        requirements = [{"type": "VCPU", "value": str(resources["vcpus"])}] if "vcpus" in resources else []
        requirements += [{"type": "MEMORY", "value": str(resources["memory_mib"])}] if "memory_mib" in resources \
            else []
        response = self.client.submit_job(
            jobName=f"triage-{spec.stage}-{spec.run_id}", jobQueue=self.queue, jobDefinition=self.definition,
            parameters={"job_spec": spec.spec_uri},
            containerOverrides={"resourceRequirements": requirements} if requirements else {},
            timeout={"attemptDurationSeconds": max(60, round(spec.timeout_minutes * 60))},
            tags={"triage-stage": spec.stage, "triage-run": spec.run_id})
        return response["jobId"]

    def state(self, job_id: str) -> JobState:
        jobs = self.client.describe_jobs(jobs=[job_id])["jobs"]
        if not jobs:
            return JobState("FAILED", f"AWS Batch no longer knows job {job_id}")
        job = jobs[0]
        container = job.get("container") or {}
        reason = "; ".join(r for r in (job.get("statusReason"), container.get("reason"),
                                       f"exit code {container['exitCode']}" if "exitCode" in container else None)
                           if r)
        return JobState(job["status"], reason)

    def cancel(self, job_id: str, reason: str) -> None:
        self.client.terminate_job(jobId=job_id, reason=reason[:255])

    def describe(self, job_id: str) -> str:
        return f"AWS Batch job {job_id} (queue {self.queue})"


class StandIn:
    """The same specification on this machine: spark-submit to a Spark master (the project's standalone cluster,
    `triage spark up`) for Spark stages, a subprocess for training."""

    def __init__(self, target: str, master: str | None) -> None:
        self.target, self.master = target, master
        if target == "spark" and not master:
            raise UserError("compute profile standin: no Spark master for the Spark stages (set "
                            "TRIAGE_SPARK_MASTER, e.g. from `triage spark up`)")
        self.jobs: dict[str, subprocess.Popen] = {}
        self.log = Path(os.environ.get("TRIAGE_STANDIN_LOG_DIR", ".triage/standin"))

    def submit(self, spec: JobSpec) -> str:
        environment = {**os.environ, "TRIAGE_COMPUTE": "local", "PYSPARK_PYTHON": sys.executable}
        if self.target == "spark":
            from triage.tooling.spark import spark_home

            submit = Path(spark_home()) / "bin" / "spark-submit"
            # the cluster's own sizes: compute.spark's executor sizes are the cloud's (4 cores, 16g), which a
            # 1-core loopback worker could never host (the job would wait for resources forever)
            command = [str(submit), "--master", str(self.master), "--conf", f"spark.pyspark.python={sys.executable}",
                       str(RUN_JOB), spec.spec_uri]
            environment[SUBMITTED_VARIABLE] = "1"
        else:
            command = [sys.executable, str(RUN_JOB), spec.spec_uri]
        self.log.mkdir(parents=True, exist_ok=True)
        output = open(self.log / f"{spec.run_id}.out", "wb")  # noqa: SIM115 - the job owns it until it ends
        self.jobs[spec.run_id] = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT,
                                                  start_new_session=True)  # cancel stops the whole job tree
        return spec.run_id

    def state(self, job_id: str) -> JobState:
        code = self.jobs[job_id].poll()
        if code is None:
            return JobState("RUNNING")
        return JobState("SUCCEEDED") if code == 0 else JobState("FAILED", f"exit code {code}")

    def cancel(self, job_id: str, reason: str) -> None:
        os.killpg(self.jobs[job_id].pid, signal.SIGKILL)  # spark-submit's JVM and the Python driver it started
        self.jobs[job_id].wait()

    def describe(self, job_id: str) -> str:
        return f"stand-in {self.target} job {job_id}"


def backend_for(profile: str, target: str, spark_master: str | None) -> Backend:
    if profile == "standin":
        return StandIn(target, spark_master)
    return EmrServerless() if target == "spark" else Batch()
