"""What the CI runner may do with the heavy-job stack: statements of AWS_ROLE_CI's one managed policy (shared stack).

The runner writes a job's inputs, code archive and spec under jobs/ (src/triage/cloud/store.py), starts the job
(an EMR Serverless job run or an AWS Batch job), waits for it, reads its log and outputs, and cancels it when the
workflow is cancelled. The
compute stack imports the shared stack's key and log bucket, so the shared stack cannot import the compute stack's
resources back (a cycle): it names them by the fixed names of `environments.ComputeNames` instead. Only the EMR
Serverless application keeps a wildcard: EMR assigns its id at creation.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam

from .environments import ComputeNames
from .nag import iam5_finding

EMR_SERVICE = "emr-serverless.amazonaws.com"
BATCH_SERVICE = "batch.amazonaws.com"
JOBS_IMAGE_PUSH = ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                   "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                   "ecr:DescribeImages"]


def regional_arn(service: str, resource: str) -> str:
    return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


def role_arn(name: str) -> str:
    return f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{name}"


def log_group_arn(name: str) -> str:
    """The group and its streams (logs:GetLogEvents names a stream: log-group:NAME:log-stream:STREAM)."""
    return regional_arn("logs", f"log-group:{name}:*")


def repository_arn(name: str) -> str:
    return regional_arn("ecr", f"repository/{name}")


def emr_applications() -> str:
    return regional_arn("emr-serverless", "/applications/*")


def emr_job_runs() -> str:
    return regional_arn("emr-serverless", "/applications/*/jobruns/*")


def job_queue_arn(name: str) -> str:
    return regional_arn("batch", f"job-queue/{name}")


def job_definition_arns(name: str) -> list[str]:
    """By name (the latest active revision) and by name:revision."""
    return [regional_arn("batch", f"job-definition/{name}"), regional_arn("batch", f"job-definition/{name}:*")]


def ci_statements(names: ComputeNames) -> list[iam.PolicyStatement]:
    """Start, watch and cancel heavy jobs (the calls of src/triage/cloud/backends.py); read their logs; push the
    jobs image. (Objects under jobs/ come from
    `storage.object_statements` with the role's other prefixes.)"""
    return [
        iam.PolicyStatement(sid="EmrStartJobRun", resources=[emr_applications()],
                            actions=["emr-serverless:GetApplication", "emr-serverless:StartJobRun"]),
        iam.PolicyStatement(sid="EmrWatchJobRuns", resources=[emr_job_runs()], actions=[
            "emr-serverless:GetJobRun", "emr-serverless:CancelJobRun", "emr-serverless:GetDashboardForJobRun",
            "emr-serverless:TagResource"]),  # tags given to StartJobRun (triage-stage, triage-run)
        iam.PolicyStatement(sid="PassEmrJobRole", actions=["iam:PassRole"], resources=[role_arn(names.emr_job_role)],
                            conditions={"StringEquals": {"iam:PassedToService": EMR_SERVICE}}),
        iam.PolicyStatement(sid="BatchSubmitTraining", actions=["batch:SubmitJob"],
                            resources=[job_queue_arn(names.training_queue),
                                       *job_definition_arns(names.training_job_definition)]),
        iam.PolicyStatement(sid="BatchJobs", actions=["batch:TerminateJob", "batch:TagResource"],  # tags: SubmitJob's
                            resources=[regional_arn("batch", "job/*")]),
        iam.PolicyStatement(sid="BatchDescribe", actions=["batch:DescribeJobs", "batch:DescribeJobQueues"],
                            resources=["*"]),
        iam.PolicyStatement(sid="PassTrainingJobRole", actions=["iam:PassRole"],
                            resources=[role_arn(names.training_job_role)],
                            conditions={"StringEquals": {"iam:PassedToService": BATCH_SERVICE}}),
        iam.PolicyStatement(sid="ReadJobLogs", actions=["logs:GetLogEvents", "logs:FilterLogEvents"],
                            resources=[log_group_arn(names.emr_log_group), log_group_arn(names.training_log_group)]),
        iam.PolicyStatement(sid="RegistryToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(sid="PushJobsImage", actions=JOBS_IMAGE_PUSH,
                            resources=[repository_arn(names.jobs_repository)]),
    ]


def ci_findings(names: ComputeNames) -> list[str]:
    """The cdk-nag AwsSolutions-IAM5 findings of `ci_statements`, one per wildcard resource."""
    wildcards = [emr_applications(), emr_job_runs(), regional_arn("batch", "job/*"),
                 job_definition_arns(names.training_job_definition)[1], log_group_arn(names.emr_log_group),
                 log_group_arn(names.training_log_group), "*"]
    return [iam5_finding(resource) for resource in wildcards]


CI_REASON = ("The CI runner starts, watches and cancels the heavy jobs: EMR Serverless job runs on this account's "
             "applications (the id is assigned by EMR and the shared stack cannot import it without a cycle; a run "
             "can only run as the EMR job role, the one role it may pass), Batch jobs of the training queue and job "
             "definition (any revision), and jobs of this account (ids are assigned at submission: terminate, tag on "
             "submission); it reads the two job log groups' streams. batch:DescribeJobs, batch:DescribeJobQueues "
             "and ecr:GetAuthorizationToken take no resource-level permissions.")
