"""The heavy-job stack (<prefix>-compute): managed, ephemeral compute for the pipeline's heavy stages.

The CI runner (AWS_ROLE_CI) puts a job's inputs, code and spec under jobs/ in the data bucket and starts it: the data
stages as an EMR Serverless job run, training as an AWS Batch job on Fargate. Both run the jobs image (jobs ECR
repository, docker/jobs.Dockerfile) in private subnets without any route to the internet, as roles limited to their
prefixes of the bucket, and log to KMS-encrypted log groups. Outputs are the GitHub repository variables the
workflows pass to `dvc repro` (TRIAGE_COMPUTE=aws).
"""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, CfnParameter, Environment, Fn, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from .compute_access import EMR_SERVICE
from .compute_jobs import NO_IMAGE, JobsImage, TrainingBatch, emr_application, jobs_repository_uri
from .compute_network import JobsNetwork
from .compute_roles import JobRoles
from .environments import ComputeNames, DeploymentConfig
from .outputs import REPOSITORY, github_variable
from .registry import Registry
from .service import retention
from .stacks import SharedStack

IMAGE_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"  # an ECR tag
EMR_PULL = ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"]


class ComputeStack(Stack):
    def __init__(self, scope: Construct, deployment: DeploymentConfig, shared: SharedStack) -> None:
        super().__init__(scope, deployment.compute_stack_name,
                         env=Environment(account=deployment.account, region=deployment.region),
                         description="triage heavy jobs: EMR Serverless (data stages) and AWS Batch on Fargate "
                                     "(training) in private subnets, the jobs image repository, the job roles")
        Tags.of(self).add("project", "triage")
        config, names = deployment.compute, deployment.names
        image_tag = CfnParameter(
            self, "JobsImageTag", type="String", default=NO_IMAGE, allowed_pattern=IMAGE_TAG,
            description="Tag of the jobs image in the jobs repository (deploy.yml's jobs-image job prints it); "
                        f"{NO_IMAGE} before the first image exists")
        present = CfnCondition(self, "JobsImagePresent",
                               expression=Fn.condition_not(Fn.condition_equals(image_tag.value_as_string, NO_IMAGE)))
        image = JobsImage(jobs_repository_uri(names), image_tag.value_as_string, present)
        self.key = self._logs_key()
        self.emr_logs = self._log_group("EmrLogs", names.emr_log_group, config.log_retention_days)
        self.training_logs = self._log_group("TrainingLogs", names.training_log_group, config.log_retention_days)
        self.registry = Registry(self, "JobsRegistry", repository_name=names.jobs_repository)
        self.network = JobsNetwork(self, "Network", config=config, log_bucket=shared.storage.log_bucket)
        self.roles = JobRoles(self, "Roles", names=names, bucket_name=shared.bucket_name,
                              data_key_arn=shared.storage.key.key_arn,
                              pseudonym_key_arn=shared.pseudonym_key.secret_arn, emr_logs=self.emr_logs,
                              training_logs=self.training_logs, repository=self.registry.repository)
        self.emr = emr_application(self, config=config, names=names, network=self.network, image=image,
                                   log_group=self.emr_logs)
        # EMR Serverless pulls a custom image itself (not through the VPC, not as the job role): this application only.
        self.registry.repository.add_to_resource_policy(iam.PolicyStatement(
            sid="EmrServerlessPull", principals=[iam.ServicePrincipal(EMR_SERVICE)], actions=EMR_PULL,
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID, "aws:SourceArn": self.emr.attr_arn}}))
        self.training = TrainingBatch(self, "Training", config=config, names=names, network=self.network,
                                      roles=self.roles, image=image, log_group=self.training_logs)
        self._outputs(names)

    def _outputs(self, names: ComputeNames) -> None:
        for variable, value, what in (
            ("TRIAGE_EMR_APPLICATION_ID", self.emr.attr_application_id, "EMR Serverless application (data stages)"),
            ("TRIAGE_EMR_JOB_ROLE_ARN", self.roles.emr_role.role_arn, "runtime role of EMR job runs"),
            ("TRIAGE_EMR_LOG_GROUP", self.emr_logs.log_group_name, "log group of EMR job runs"),
            ("TRIAGE_TRAINING_JOB_QUEUE", self.training.queue.ref, "AWS Batch job queue ARN (training)"),
            ("TRIAGE_TRAINING_JOB_DEFINITION", names.training_job_definition,
             "AWS Batch job definition (training; by name: its latest revision)"),
            ("TRIAGE_TRAINING_LOG_GROUP", self.training_logs.log_group_name, "log group of training jobs"),
            ("TRIAGE_JOBS_REPOSITORY", self.registry.repository.repository_uri,
             "jobs image repository URI (tags: content of docker/jobs.Dockerfile and its inputs, immutable)"),
        ):
            github_variable(self, variable, value, REPOSITORY, what)

    def _logs_key(self) -> kms.Key:
        key = kms.Key(self, "LogsKey", description="triage compute: the job log groups", enable_key_rotation=True,
                      removal_policy=RemovalPolicy.RETAIN)
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchLogs", principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"], conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                                     f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"}}))
        return key

    def _log_group(self, construct_id: str, name: str, days: int) -> logs.LogGroup:
        return logs.LogGroup(self, construct_id, log_group_name=name, retention=retention(days),
                             encryption_key=self.key, removal_policy=RemovalPolicy.RETAIN)
