"""The heavy jobs' roles, each with exactly one customer-managed policy written statement by statement.

- EMR job runtime role (emr-serverless.amazonaws.com of this account): reads raw/, dvc/, jobs/ and stages/, writes
  only stages/ (the data stages' parts) and jobs/runs/<run>/outputs/ and jobs/runs/<run>/logs/, writes its
  CloudWatch log group, reads the pseudonym key
  secret (ingest hashes identifiers with it); the data key only through S3 and Secrets Manager.
- training job role (ECS tasks of this account, Batch on Fargate): reads dvc/, jobs/ and stages/, writes the same
  two places under jobs/.
- training execution role (the Fargate agent): pulls the jobs image, writes the training log group.

Their names are fixed (environments.ComputeNames) because the CI role, in the shared stack, may pass exactly these.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from .compute_access import EMR_SERVICE, emr_applications, regional_arn
from .environments import DVC_PREFIX, JOB_LOGS, JOB_OUTPUTS, JOBS_PREFIX, RAW_PREFIX, STAGES_PREFIX, ComputeNames
from .nag import iam5_finding, suppress
from .storage import object_findings, object_statements

EMR_READ = [RAW_PREFIX, DVC_PREFIX, JOBS_PREFIX, STAGES_PREFIX]
TRAINING_READ = [DVC_PREFIX, JOBS_PREFIX, STAGES_PREFIX]
JOB_WRITE = [JOB_OUTPUTS, JOB_LOGS]
EMR_WRITE = [*JOB_WRITE, STAGES_PREFIX]


def ecs_tasks() -> iam.IPrincipal:
    """ECS tasks of this account only (Batch runs Fargate jobs as ECS tasks; confused-deputy guard)."""
    return iam.ServicePrincipal("ecs-tasks.amazonaws.com", conditions={
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"}})


def emr_serverless() -> iam.IPrincipal:
    """EMR Serverless applications of this account only."""
    return iam.ServicePrincipal(EMR_SERVICE, conditions={
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": emr_applications()}})


class JobRoles(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, names: ComputeNames, bucket_name: str,
                 data_key_arn: str, pseudonym_key_arn: str, emr_logs: logs.ILogGroup, training_logs: logs.ILogGroup,
                 repository: ecr.IRepository) -> None:
        super().__init__(scope, construct_id)
        self.bucket_name, self.data_key_arn, self.pseudonym_key_arn = bucket_name, data_key_arn, pseudonym_key_arn
        self.emr_role = iam.Role(self, "EmrJobRole", role_name=names.emr_job_role, assumed_by=emr_serverless(),
                                 description="triage EMR Serverless job runs (data stages): read raw/, dvc/, jobs/, "
                                             "stages/; write stages/, jobs/runs/<run>/outputs/ and "
                                             "jobs/runs/<run>/logs/")
        self.training_role = iam.Role(self, "TrainingJobRole", role_name=names.training_job_role,
                                      assumed_by=ecs_tasks(),
                                      description="triage training jobs (Batch on Fargate): read dvc/, jobs/, stages/; "
                                                  "write jobs/runs/<run>/outputs/ and jobs/runs/<run>/logs/")
        self.execution_role = iam.Role(self, "TrainingExecutionRole", assumed_by=ecs_tasks(),
                                       description="triage training jobs' start: pull the jobs image, write the log")
        self.emr_policy = self._emr_policy(emr_logs)
        self.training_policy = self._training_policy()
        self.execution_policy = self._execution_policy(training_logs, repository)

    def _emr_policy(self, emr_logs: logs.ILogGroup) -> iam.ManagedPolicy:
        statements = object_statements(self.bucket_name, self.data_key_arn, read=EMR_READ, write=EMR_WRITE,
                                       list_prefixes=EMR_READ)
        statements += [
            iam.PolicyStatement(sid="WriteJobLog", resources=[emr_logs.log_group_arn], actions=[
                "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]),
            iam.PolicyStatement(sid="FindLogGroup", actions=["logs:DescribeLogGroups"],
                                resources=[regional_arn("logs", "log-group:*")]),
            iam.PolicyStatement(sid="ReadPseudonymKey", actions=["secretsmanager:GetSecretValue"],
                                resources=[self.pseudonym_key_arn]),
            iam.PolicyStatement(sid="DataKeyThroughSecretsManager", actions=["kms:Decrypt"],
                                resources=[self.data_key_arn], conditions={"StringEquals": {
                                    "kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}}),
        ]
        policy = iam.ManagedPolicy(self, "EmrJobPolicy", statements=statements, roles=[self.emr_role],
                                   description="triage EMR job runs: their prefixes of the data bucket, their log")
        suppress(policy, [*object_findings(self.bucket_name, EMR_READ + JOB_WRITE),
                          iam5_finding(regional_arn("logs", "log-group:*"))],
                 "Objects under raw/, dvc/, jobs/ and stages/ (read: the extracts, the DVC cache, the run's inputs, "
                 "the data stages' parts) and only stages/ (the parts, by content), jobs/runs/<run>/outputs/ and "
                 "jobs/runs/<run>/logs/ (write); listing limited to the read prefixes by "
                 "s3:prefix; logs:DescribeLogGroups takes no narrower resource than log-group:*.")
        return policy

    def _training_policy(self) -> iam.ManagedPolicy:
        statements = object_statements(self.bucket_name, self.data_key_arn, read=TRAINING_READ, write=JOB_WRITE,
                                       list_prefixes=TRAINING_READ)
        policy = iam.ManagedPolicy(self, "TrainingJobPolicy", statements=statements, roles=[self.training_role],
                                   description="triage training jobs: their prefixes of the data bucket")
        suppress(policy, object_findings(self.bucket_name, TRAINING_READ + JOB_WRITE),
                 "Objects under dvc/, jobs/ and stages/ (read: the DVC cache, the run's spec, code and inputs, the "
                 "data stages' parts) and only "
                 "jobs/runs/<run>/outputs/ and jobs/runs/<run>/logs/ (write); listing limited to the read prefixes.")
        return policy

    def _execution_policy(self, training_logs: logs.ILogGroup, repository: ecr.IRepository) -> iam.ManagedPolicy:
        policy = iam.ManagedPolicy(
            self, "TrainingExecutionPolicy", roles=[self.execution_role],
            description="triage training jobs' start: the jobs image, the training log group",
            statements=[
                iam.PolicyStatement(sid="RegistryToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(sid="PullImage", resources=[repository.repository_arn], actions=[
                    "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]),
                iam.PolicyStatement(sid="WriteLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                    resources=[training_logs.log_group_arn]),
            ])
        suppress(policy, ["AwsSolutions-IAM5[Resource::*]"],
                 "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); the image pull "
                 "names the jobs repository and the log statement the training log group.")
        return policy
