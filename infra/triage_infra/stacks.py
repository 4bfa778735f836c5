"""The stacks: one shared by both stages (bucket, keys, GitHub OIDC, CI and monitor roles) and one per stage
(image repository, service, alarms, the stage's publish and deploy roles). Outputs are the GitHub variables."""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, CfnOutput, CfnParameter, Environment, Fn, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from . import compute_access, github_oidc
from .alarms import Alarms
from .environments import (
    CONTAINER_NAME,
    DRIFT_NAMESPACE,
    DVC_PREFIX,
    JOBS_PREFIX,
    MONITORING_PREFIX,
    RAW_PREFIX,
    STAGES_PREFIX,
    DeploymentConfig,
    StageConfig,
    model_prefix,
)
from .nag import suppress
from .outputs import ENVIRONMENT, REPOSITORY, github_variable
from .registry import Registry
from .service import Image, Service
from .storage import Storage, object_findings, object_statements

PREDICTIONS_ALL = "predictions/"
MODELS_ALL = "models/triage/"


def _environment(deployment: DeploymentConfig) -> Environment:
    return Environment(account=deployment.account, region=deployment.region)


def data_bucket_name(deployment: DeploymentConfig) -> str:
    """The data bucket's name: from context, or <prefix>-data-<account>-<region> (unique per account and region)."""
    return deployment.bucket_name or f"{deployment.prefix}-data-{Aws.ACCOUNT_ID}-{deployment.region}"


class SharedStack(Stack):
    def __init__(self, scope: Construct, deployment: DeploymentConfig) -> None:
        super().__init__(scope, deployment.shared_stack_name, env=_environment(deployment),
                         description="triage: data bucket (dvc/, raw/, models/, predictions/, monitoring/), keys, "
                                     "GitHub OIDC, CI and monitor roles")
        Tags.of(self).add("project", "triage")
        self.bucket_name = data_bucket_name(deployment)
        self.storage = Storage(self, "Storage", bucket_name=self.bucket_name, stages=deployment.stages.values(),
                               access_log_days=deployment.access_log_days,
                               job_files_days=deployment.compute.job_files_days)
        self.pseudonym_key = secretsmanager.Secret(
            self, "PseudonymKey", description="triage: TRIAGE_PSEUDONYM_KEY (HMAC key of visit ids in the prediction "
                                              "log); the monitor holds the same value as a GitHub secret",
            encryption_key=self.storage.key, removal_policy=RemovalPolicy.RETAIN,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48, exclude_punctuation=True,
                                                                        include_space=False))
        suppress(self.pseudonym_key, ["AwsSolutions-SMG4", "HIPAA.Security-SecretsManagerRotationEnabled"],
                 "The pseudonym key links visit ids in the prediction log to labelled extracts; rotating it would "
                 "break every join with earlier logs, so it changes only by a deliberate, documented re-keying.")
        self.oidc = github_oidc.GithubOidcProvider(self, "GithubOidc",
                                                   existing_arn=deployment.github_oidc_provider_arn)
        self.ci_role = self._ci_role(deployment)
        self.monitor_role = self._monitor_role(deployment)
        bucket = self.storage.bucket.bucket_name
        github_variable(self, "AWS_REGION", Aws.REGION, REPOSITORY, "region of every stack")
        github_variable(self, "AWS_ROLE_CI", self.ci_role.role_arn, REPOSITORY,
                        "role of the CI jobs (DVC remote, raw extracts, heavy jobs on triage-compute)")
        github_variable(self, "AWS_ROLE_MONITOR", self.monitor_role.role_arn, REPOSITORY,
                        "role of the scheduled monitor (predictions, models, monitoring, drift metric)")
        github_variable(self, "DVC_BUCKET", bucket, REPOSITORY, "bucket of the DVC remote (s3://BUCKET/dvc)")
        github_variable(self, "TRIAGE_BUCKET", bucket, REPOSITORY, "bucket of models, predictions and monitoring")
        CfnOutput(self, "PseudonymKeySecret", value=self.pseudonym_key.secret_arn,
                  description="GitHub repository secret TRIAGE_PSEUDONYM_KEY: copy this Secrets Manager secret's value "
                              "(never this ARN) into the repository secret")

    def _ci_role(self, deployment: DeploymentConfig) -> iam.Role:
        prefixes = [DVC_PREFIX, RAW_PREFIX, JOBS_PREFIX, STAGES_PREFIX]
        statements = object_statements(self.bucket_name, self.storage.key.key_arn, read=prefixes,
                                       write=[DVC_PREFIX, JOBS_PREFIX], list_prefixes=prefixes)
        statements += compute_access.ci_statements(deployment.names)
        return github_oidc.github_role(
            self, "CiRole", provider_arn=self.oidc.arn, subjects=github_oidc.subjects_ci(deployment),
            description="triage CI: read and push the DVC remote (dvc/), read raw extracts (raw/) and the data "
                        "stages' parts (stages/), run heavy jobs (jobs/, EMR Serverless, AWS Batch) and push their "
                        "image",
            statements=statements,
            reason="Objects under dvc/ (the DVC cache is content-addressed: `dvc push` from the PR and "
                   "retrain jobs adds objects, never deletes), raw/ and stages/ (read only) and jobs/ (each heavy "
                   "job's spec, code and inputs, read back with its outputs); listing is limited to those prefixes "
                   "by an s3:prefix condition. " + compute_access.CI_REASON,
            acknowledged=[*object_findings(self.bucket_name, prefixes),
                          *compute_access.ci_findings(deployment.names)])

    def _monitor_role(self, deployment: DeploymentConfig) -> iam.Role:
        statements = object_statements(self.bucket_name, self.storage.key.key_arn, read=[PREDICTIONS_ALL, MODELS_ALL],
                                       write=[MONITORING_PREFIX], list_prefixes=[PREDICTIONS_ALL])
        statements.append(iam.PolicyStatement(
            sid="DriftVerdict", actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": DRIFT_NAMESPACE}}))
        return github_oidc.github_role(
            self, "MonitorRole", provider_arn=self.oidc.arn, subjects=github_oidc.subjects_monitor(deployment),
            description="triage monitor: read predictions/ and models/, write monitoring/, put the drift metric",
            statements=statements,
            reason="The monitor reads every stage's prediction segments and the reference profile beside "
                   "each stage's model, and writes its reports under monitoring/; cloudwatch:PutMetricData "
                   "has no resource-level permissions and is limited to the drift namespace by condition.",
            acknowledged=[*object_findings(self.bucket_name, [PREDICTIONS_ALL, MODELS_ALL, MONITORING_PREFIX]),
                          "AwsSolutions-IAM5[Resource::*]"])


class StageStack(Stack):
    def __init__(self, scope: Construct, deployment: DeploymentConfig, stage: StageConfig, shared: SharedStack) -> None:
        super().__init__(scope, deployment.stage_stack_name(stage.name), env=_environment(deployment),
                         description=f"triage {stage.name}: image repository, service on ECS Fargate behind HTTPS, "
                                     "alarms, publish and deploy roles")
        Tags.of(self).add("project", "triage")
        Tags.of(self).add("stage", stage.name)
        certificate = CfnParameter(
            self, "CertificateArn", type="String",
            description="ACM certificate (same region) for the load balancer's HTTPS listener",
            allowed_pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
        image_tag = CfnParameter(
            self, "ImageTag", type="String", default="",
            description="Image tag (commit sha) in this stage's repository; empty before the first image exists "
                        "(the service then runs no task)", allowed_pattern=r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
        image_present = CfnCondition(self, "ImagePresent",
                                     expression=Fn.condition_not(Fn.condition_equals(image_tag.value_as_string, "")))
        self.key = self._key(stage)
        self.registry = Registry(self, "Registry", repository_name=f"{deployment.prefix}-{stage.name}")
        self.service = Service(
            self, "Service", stage=stage, deployment=deployment, storage=shared.storage,
            bucket_name=shared.bucket_name, key=self.key,
            pseudonym_key=shared.pseudonym_key,
            image=Image(self.registry.repository, image_tag.value_as_string, image_present),
            certificate_arn=certificate.value_as_string)
        self.alarms = Alarms(self, "Alarms", stage=stage, key=self.key,
                             load_balancer=self.service.load_balancer, target_group=self.service.target_group,
                             alarm_email=deployment.alarm_email)
        publish = self._publish_role(deployment, stage, shared)
        deploy = self._deploy_role(deployment, stage, shared)
        github_variable(self, "AWS_ROLE_PUBLISH", publish.role_arn, ENVIRONMENT,
                        f"role of the publish job in environment {stage.name}")
        github_variable(self, "AWS_ROLE_DEPLOY", deploy.role_arn, ENVIRONMENT,
                        f"role of the deploy job in environment {stage.name}")
        github_variable(self, "ECR_REPOSITORY", self.registry.repository.repository_uri, ENVIRONMENT,
                        "image repository URI (tags: commit sha, immutable)")
        github_variable(self, "ECS_CLUSTER", self.service.cluster.cluster_name, ENVIRONMENT, "ECS cluster")
        github_variable(self, "ECS_SERVICE", self.service.service.service_name, ENVIRONMENT, "ECS service")
        github_variable(self, "ECS_CONTAINER", CONTAINER_NAME, ENVIRONMENT, "container whose image a deploy sets")
        CfnOutput(self, "ServiceUrl", value=f"https://{self.service.load_balancer.load_balancer_dns_name}",
                  description="load balancer address: point the certificate's DNS name at it (CNAME or alias)")
        CfnOutput(self, "ApiKeysSecret", value=self.service.api_keys.secret_arn,
                  description="Secrets Manager secret holding TRIAGE_API_KEYS (comma-separated) for this stage")
        CfnOutput(self, "AlarmTopic", value=self.alarms.topic.topic_arn, description="SNS topic of the alarms")

    def _key(self, stage: StageConfig) -> kms.Key:
        key = kms.Key(self, "ServiceKey", description=f"triage {stage.name}: logs, API-key secret, alarm topic",
                      enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN)
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchLogs", principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"], conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                                     f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"}}))
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsToTopic", principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
        return key

    def _publish_role(self, deployment: DeploymentConfig, stage: StageConfig, shared: SharedStack) -> iam.Role:
        prefix = model_prefix(stage.name)
        statements = object_statements(shared.bucket_name, shared.storage.key.key_arn, read=[DVC_PREFIX],
                                       write=[prefix], delete=[prefix], list_prefixes=[DVC_PREFIX])
        return github_oidc.github_role(
            self, "PublishRole", provider_arn=shared.oidc.arn,
            subjects=github_oidc.subjects_environment(deployment, stage.github_environment),
            description=f"triage publish to {stage.name}: read the DVC remote, write {prefix}",
            statements=statements,
            reason=f"`triage publish --stage {stage.name}` reads the promoted version from dvc/ and "
                            f"replaces the objects under {prefix} (model card, reference profile, model, manifest).",
            acknowledged=object_findings(shared.bucket_name, [DVC_PREFIX, prefix]))

    def _deploy_role(self, deployment: DeploymentConfig, stage: StageConfig, shared: SharedStack) -> iam.Role:
        service = self.service
        repository = self.registry.repository
        statements = [
            iam.PolicyStatement(sid="RegistryToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(sid="PushImage", resources=[repository.repository_arn], actions=[
                "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                "ecr:DescribeImages"]),
            iam.PolicyStatement(sid="TaskDefinitions", resources=["*"],
                                actions=["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]),
            iam.PolicyStatement(sid="UpdateService", resources=[service.service.service_arn],
                                actions=["ecs:DescribeServices", "ecs:UpdateService"]),
            iam.PolicyStatement(sid="PassTaskRoles", actions=["iam:PassRole"],
                                resources=[service.task_role.role_arn, service.execution_role.role_arn],
                                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
        ]
        return github_oidc.github_role(
            self, "DeployRole", provider_arn=shared.oidc.arn,
            subjects=github_oidc.subjects_environment(deployment, stage.github_environment),
            description=f"triage deploy to {stage.name}: push to its image repository, roll its ECS service",
            statements=statements,
            reason="ecr:GetAuthorizationToken, ecs:RegisterTaskDefinition and ecs:DescribeTaskDefinition "
                   "take no resource-level permissions; what a task definition may run as is bounded by "
                   "iam:PassRole (this stage's two roles) and only this stage's service can be updated.",
            acknowledged=["AwsSolutions-IAM5[Resource::*]"])

