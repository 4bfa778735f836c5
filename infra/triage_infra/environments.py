"""Every parameter of the deployment in one place: what dev and prod share, and where they differ.

The stacks read nothing else. Deployment-specific values (the GitHub repository, region, account, alarm e-mail,
allowed client networks, an existing GitHub OIDC provider) come from CDK context (`cdk deploy -c key=value` or
`cdk.json`); the per-stage sizing and thresholds below are code, reviewed like code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The bucket layout (owned by src/triage_shared/bucket.py, which this app does not install; a test proves they agree:
# tests/code/test_bucket_layout.py);
# the service, publish, monitor and CI roles are scoped to these prefixes.
DVC_PREFIX = "dvc/"
RAW_PREFIX = "raw/"
MONITORING_PREFIX = "monitoring/"
# Heavy jobs (triage-compute; layout in src/triage/cloud/store.py): the CI runner writes inputs and code archives
# (jobs/inputs/, jobs/code/) and each run's spec (jobs/runs/<run>/); a job reads them and writes only its outputs and
# log: jobs/runs/<run>/outputs/ and jobs/runs/<run>/logs/, matched by the patterns below.
JOBS_PREFIX = "jobs/"
JOB_OUTPUTS = "jobs/runs/*/outputs/"
JOB_LOGS = "jobs/runs/*/logs/"
# The data stages' rows when Spark's executors run on other hosts (data.executor.store): the EMR job writes parts
# there by content; the training job, the CI runner (evaluate, export, profile) and people read them.
STAGES_PREFIX = "stages/"


def model_prefix(stage: str) -> str:
    return f"models/triage/{stage}/"


def predictions_prefix(stage: str) -> str:
    return f"predictions/{stage}/"


# The drift verdict the monitor workflow publishes (aws cloudwatch put-metric-data) and the alarm watches.
DRIFT_NAMESPACE = "Triage/Monitoring"
DRIFT_METRIC = "DriftDetected"
DRIFT_DIMENSION = "Environment"

CONTAINER_NAME = "triage"
SERVICE_PORT = 8000
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


@dataclass(frozen=True)
class StageConfig:
    """What differs between dev and prod. The templates of the two stages differ only in these values and the stage
    name (a test normalises them and compares the rest)."""

    name: str  # dev | prod: TRIAGE_ENV, the bucket prefixes, the GitHub environment the roles trust
    min_tasks: int
    max_tasks: int
    cpu: int  # Fargate CPU units (1024 = 1 vCPU)
    memory_mib: int
    cpu_target_percent: int  # target tracking: average CPU per task
    requests_per_task: int  # target tracking: ALB requests per target per minute
    log_retention_days: int  # container logs in CloudWatch Logs
    prediction_log_ia_days: int  # prediction-log segments move to Standard-IA after this many days
    prediction_log_expire_days: int  # ... and are deleted after this many (the medical-audit retention)
    alb_deletion_protection: bool
    error_rate_percent: float  # 5xx alarm: share of requests answered 5xx (target or load balancer)
    p99_latency_ms: int  # latency alarm: p99 of TargetResponseTime
    monitor_scheduled: bool  # the monitor workflow runs daily on this stage: alarm when its verdict stops arriving
    log_push_interval_s: int  # TRIAGE_LOG_PUSH_INTERVAL_S: how often each task pushes its log segment
    max_batch: int = 256  # TRIAGE_MAX_BATCH
    max_inflight: int = 64  # TRIAGE_MAX_INFLIGHT (per task: load shedding before the CPU saturates)

    @property
    def github_environment(self) -> str:
        """The GitHub environment (deploy.yml `environment:`) whose OIDC tokens the stage's roles accept."""
        return self.name


STAGES: dict[str, StageConfig] = {
    "dev": StageConfig(
        name="dev", min_tasks=1, max_tasks=2, cpu=512, memory_mib=1024, cpu_target_percent=60,
        requests_per_task=6000, log_retention_days=30, prediction_log_ia_days=30, prediction_log_expire_days=180,
        alb_deletion_protection=False, error_rate_percent=5.0, p99_latency_ms=500, monitor_scheduled=False,
        log_push_interval_s=60,
    ),
    "prod": StageConfig(
        name="prod", min_tasks=2, max_tasks=6, cpu=1024, memory_mib=2048, cpu_target_percent=60,
        requests_per_task=12000, log_retention_days=365, prediction_log_ia_days=30, prediction_log_expire_days=2192,
        alb_deletion_protection=True, error_rate_percent=1.0, p99_latency_ms=300, monitor_scheduled=True,
        log_push_interval_s=60,
    ),
}

@dataclass(frozen=True)
class ComputeConfig:
    """The heavy-job stack (<prefix>-compute): EMR Serverless for the data stages (Spark), AWS Batch on Fargate for
    training (one node). Every limit here is also a cost cap: nothing runs between jobs, and no job can use more."""

    emr_release_label: str = "emr-7.11.0"  # Spark 3.5.6; the project pins pyspark 4.x (infra/README.md, Heavy jobs)
    # The whole application, all job runs at once: params.yaml compute.spark (16 executors of 4 vCPU and 16 GB, i.e.
    # workers of 4 vCPU / 18 GB with Spark's overhead) plus the driver (4 vCPU / 16 GB) is 68 vCPU and 304 GB.
    emr_max_cpu: str = "72 vCPU"
    emr_max_memory: str = "320 GB"
    emr_max_disk: str = "1000 GB"
    emr_idle_minutes: int = 15  # auto-stop after this long without a job run (auto-start on the next one)
    training_vcpus: int = 8  # one training job (a valid Fargate pair: 8 vCPU with 16-60 GB in 4 GB steps)
    training_memory_mib: int = 32768
    training_storage_gib: int = 50  # Fargate ephemeral storage (21-200 GiB)
    training_timeout_s: int = 4 * 3600  # Batch terminates an attempt after this long
    batch_max_vcpus: int = 16  # the compute environment's cap: two training jobs at once
    log_retention_days: int = 90
    job_files_days: int = 30  # objects under jobs/ expire after this many days (data bucket lifecycle rule)
    vpc_cidr: str = "10.60.0.0/16"
    availability_zones: int = 2  # subnets, and the interface endpoints' network interfaces (billed per AZ)


@dataclass(frozen=True)
class ComputeNames:
    """Names fixed by the deployment prefix, so the shared stack's CI policy names the compute stack's resources
    without importing them (the compute stack imports the bucket's key: an import back would be a cycle)."""

    prefix: str

    @property
    def jobs_repository(self) -> str:
        return f"{self.prefix}-jobs"

    @property
    def emr_application(self) -> str:
        return f"{self.prefix}-data-stages"

    @property
    def emr_job_role(self) -> str:
        return f"{self.prefix}-emr-job-runtime"

    @property
    def emr_log_group(self) -> str:
        return f"/{self.prefix}/jobs/emr-serverless"

    @property
    def training_queue(self) -> str:
        return f"{self.prefix}-training"

    @property
    def training_job_definition(self) -> str:
        return f"{self.prefix}-training"

    @property
    def training_job_role(self) -> str:
        return f"{self.prefix}-training-job"

    @property
    def training_log_group(self) -> str:
        return f"/{self.prefix}/jobs/training"


_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_CIDR = re.compile(r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class DeploymentConfig:
    """What all stacks of one deployment share (one AWS account and region)."""

    github_repository: str  # OWNER/NAME: the only repository whose workflows may assume the roles
    region: str
    account: str | None  # None: environment-agnostic templates (the account is resolved at deploy time)
    prefix: str = "triage"  # stack names: <prefix>-shared, <prefix>-dev, <prefix>-prod
    default_branch: str = "main"  # scheduled workflows (monitor) run here
    integration_branch: str = "develop"
    alarm_email: str | None = None
    ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)  # who may reach the load balancer (HTTPS)
    github_oidc_provider_arn: str | None = None  # reuse the account's provider instead of creating one
    access_log_days: int = 400  # S3 server access logs, ALB access logs, VPC flow logs
    bucket_name: str | None = None  # default <prefix>-data-<account>-<region> (deterministic, so stacks need no import)
    stages: Mapping[str, StageConfig] = field(default_factory=lambda: dict(STAGES))
    compute: ComputeConfig = field(default_factory=ComputeConfig)

    @property
    def shared_stack_name(self) -> str:
        return f"{self.prefix}-shared"

    @property
    def compute_stack_name(self) -> str:
        return f"{self.prefix}-compute"

    @property
    def names(self) -> ComputeNames:
        return ComputeNames(self.prefix)

    def stage_stack_name(self, stage: str) -> str:
        return f"{self.prefix}-{stage}"


def _text(context: Mapping[str, Any], key: str) -> str | None:
    value = context.get(key)
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def load(context: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> DeploymentConfig:
    """The deployment's configuration from CDK context; errors name the key, the rule and the value."""
    env = os.environ if environ is None else environ
    repository = _text(context, "github_repository")
    if repository is None:
        raise ConfigError("context github_repository is required (OWNER/NAME of the repository whose workflows may "
                          "assume the roles): cdk deploy -c github_repository=OWNER/NAME")
    if not _REPOSITORY.match(repository):
        raise ConfigError(f"context github_repository must be OWNER/NAME, got {repository!r}")
    cidrs = tuple(c.strip() for c in (_text(context, "ingress_cidrs") or "0.0.0.0/0").split(",") if c.strip())
    for cidr in cidrs:
        if not _CIDR.match(cidr):
            raise ConfigError(f"context ingress_cidrs: {cidr!r} is not an IPv4 CIDR (a.b.c.d/n)")
    account = _text(context, "account") or env.get("CDK_DEFAULT_ACCOUNT") or None
    if account is not None and not re.fullmatch(r"\d{12}", account):
        raise ConfigError(f"context account must be a 12-digit AWS account id, got {account!r}")
    provider = _text(context, "github_oidc_provider_arn")
    if provider is not None and not provider.startswith("arn:"):
        raise ConfigError(f"context github_oidc_provider_arn must be an ARN, got {provider!r}")
    return DeploymentConfig(
        github_repository=repository,
        region=_text(context, "region") or "eu-west-1",
        account=account,
        prefix=_text(context, "prefix") or "triage",
        default_branch=_text(context, "default_branch") or "main",
        integration_branch=_text(context, "integration_branch") or "develop",
        alarm_email=_text(context, "alarm_email"),
        ingress_cidrs=cidrs,
        github_oidc_provider_arn=provider,
        bucket_name=_text(context, "bucket_name"),
    )
