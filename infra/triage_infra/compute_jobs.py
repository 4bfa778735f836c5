"""The two job targets, both on the jobs image and in the private subnets:

- the data stages: an EMR Serverless Spark application, capped (maximumCapacity), started by the first job run and
  stopped after idle minutes, so nothing is billed between runs;
- training: AWS Batch on Fargate (one job = one 8 vCPU / 32 GB task, a time limit, no retry, no public address), in
  a compute environment whose maxvCpus caps how many jobs run at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnCondition, Fn
from aws_cdk import aws_batch as batch
from aws_cdk import aws_emrserverless as emr
from aws_cdk import aws_logs as logs
from constructs import Construct

from .compute_network import JobsNetwork
from .compute_roles import JobRoles
from .environments import ComputeConfig, ComputeNames

PYTHON = "/usr/bin/python3.11"  # installed by docker/jobs.Dockerfile (EMR's own python3 is 3.9)
RUN_JOB = "/opt/triage/run_job.py"  # src/triage/cloud/run_job.py in the image
TRAINING_COMMAND = ["python3.11", RUN_JOB, "Ref::job_spec"]
JOB_SPEC_PARAMETER = "job_spec"  # set per submission to the s3:// URI of the job spec (jobs/runs/<run>/job.json)
NO_IMAGE = "none"  # JobsImageTag before the first image exists


@dataclass(frozen=True)
class JobsImage:
    """The jobs repository at the tag of the CfnParameter JobsImageTag. Before the first image is pushed the tag is
    `none`: the EMR application then has no image configuration, and the job definition names a tag that never
    exists (no job runs before an image does)."""

    repository_uri: str  # built from the fixed repository name: the EMR application must not reference the repository
    tag: str
    present: CfnCondition

    def uri(self) -> str:
        return f"{self.repository_uri}:{self.tag}"

    def when_present(self, value: object) -> object:
        return Fn.condition_if(self.present.logical_id, value, Aws.NO_VALUE)


def jobs_repository_uri(names: ComputeNames) -> str:
    return f"{Aws.ACCOUNT_ID}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}/{names.jobs_repository}"


def emr_application(scope: Construct, *, config: ComputeConfig, names: ComputeNames, network: JobsNetwork,
                    image: JobsImage, log_group: logs.ILogGroup) -> emr.CfnApplication:
    application = emr.CfnApplication(
        scope, "EmrApplication", name=names.emr_application, release_label=config.emr_release_label, type="SPARK",
        architecture="X86_64",
        maximum_capacity=emr.CfnApplication.MaximumAllowedResourcesProperty(
            cpu=config.emr_max_cpu, memory=config.emr_max_memory, disk=config.emr_max_disk),
        auto_start_configuration=emr.CfnApplication.AutoStartConfigurationProperty(enabled=True),
        auto_stop_configuration=emr.CfnApplication.AutoStopConfigurationProperty(
            enabled=True, idle_timeout_minutes=config.emr_idle_minutes),
        network_configuration=emr.CfnApplication.NetworkConfigurationProperty(
            subnet_ids=network.subnet_ids, security_group_ids=[network.jobs_security_group.security_group_id]),
        interactive_configuration=emr.CfnApplication.InteractiveConfigurationProperty(
            studio_enabled=False, livy_endpoint_enabled=False),
        runtime_configuration=spark_defaults(),
        monitoring_configuration=emr.CfnApplication.MonitoringConfigurationProperty(
            cloud_watch_logging_configuration=emr.CfnApplication.CloudWatchLoggingConfigurationProperty(
                enabled=True, log_group_name=log_group.log_group_name, log_stream_name_prefix="emr")),
    )
    application.add_property_override("ImageConfiguration", image.when_present({"ImageUri": image.uri()}))
    return application


def spark_defaults() -> list[emr.CfnApplication.ConfigurationObjectProperty]:
    """The jobs image's Python for the driver and the executors (the image sets it too), and the region: run_job.py
    reads S3 through the region's gateway endpoint (no other S3 endpoint is reachable from the subnets)."""
    environment = {"PYSPARK_PYTHON": PYTHON, "PYSPARK_DRIVER_PYTHON": PYTHON, "AWS_DEFAULT_REGION": Aws.REGION,
                   "AWS_REGION": Aws.REGION}
    properties = {f"spark.emr-serverless.driverEnv.{name}": value for name, value in environment.items()}
    properties |= {f"spark.executorEnv.{name}": value for name, value in environment.items()
                   if name != "PYSPARK_DRIVER_PYTHON"}
    return [emr.CfnApplication.ConfigurationObjectProperty(classification="spark-defaults", properties=properties)]


class TrainingBatch(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: ComputeConfig, names: ComputeNames,
                 network: JobsNetwork, roles: JobRoles, image: JobsImage, log_group: logs.ILogGroup) -> None:
        super().__init__(scope, construct_id)
        self.compute_environment = batch.CfnComputeEnvironment(
            self, "ComputeEnvironment", type="MANAGED", state="ENABLED",
            # No service role: Batch uses its service-linked role (AWSServiceRoleForBatch), created by AWS.
            compute_resources=batch.CfnComputeEnvironment.ComputeResourcesProperty(
                type="FARGATE", maxv_cpus=config.batch_max_vcpus, subnets=network.subnet_ids,
                security_group_ids=[network.jobs_security_group.security_group_id]))
        self.queue = batch.CfnJobQueue(
            self, "Queue", job_queue_name=names.training_queue, priority=1, state="ENABLED",
            compute_environment_order=[batch.CfnJobQueue.ComputeEnvironmentOrderProperty(
                compute_environment=self.compute_environment.ref, order=1)],  # Ref: the ARN
            # A job that can never be placed (larger than the cap) is cancelled instead of waiting for ever.
            job_state_time_limit_actions=[batch.CfnJobQueue.JobStateTimeLimitActionProperty(
                action="CANCEL", max_time_seconds=600, reason=reason, state="RUNNABLE")
                for reason in ("MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
                               "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT")])
        self.job_definition = batch.CfnJobDefinition(
            self, "JobDefinition", type="container", job_definition_name=names.training_job_definition,
            platform_capabilities=["FARGATE"], parameters={JOB_SPEC_PARAMETER: ""}, propagate_tags=True,
            retry_strategy=batch.CfnJobDefinition.RetryStrategyProperty(attempts=1),
            timeout=batch.CfnJobDefinition.TimeoutProperty(attempt_duration_seconds=config.training_timeout_s),
            container_properties=self._container(config, roles, image, log_group))

    @staticmethod
    def _container(config: ComputeConfig, roles: JobRoles, image: JobsImage,
                   log_group: logs.ILogGroup) -> batch.CfnJobDefinition.ContainerPropertiesProperty:
        job = batch.CfnJobDefinition
        return job.ContainerPropertiesProperty(
            image=image.uri(), command=TRAINING_COMMAND,
            job_role_arn=roles.training_role.role_arn, execution_role_arn=roles.execution_role.role_arn,
            resource_requirements=[job.ResourceRequirementProperty(type="VCPU", value=str(config.training_vcpus)),
                                   job.ResourceRequirementProperty(type="MEMORY",
                                                                   value=str(config.training_memory_mib))],
            ephemeral_storage=job.EphemeralStorageProperty(size_in_gib=config.training_storage_gib),
            network_configuration=job.NetworkConfigurationProperty(assign_public_ip="DISABLED"),
            fargate_platform_configuration=job.FargatePlatformConfigurationProperty(platform_version="LATEST"),
            runtime_platform=job.RuntimePlatformProperty(cpu_architecture="X86_64",
                                                         operating_system_family="LINUX"),
            environment=[job.EnvironmentProperty(name="AWS_DEFAULT_REGION", value=Aws.REGION),
                         job.EnvironmentProperty(name="PYTHONUNBUFFERED", value="1")],
            log_configuration=job.LogConfigurationProperty(log_driver="awslogs", options={
                "awslogs-group": log_group.log_group_name, "awslogs-region": Aws.REGION,
                "awslogs-stream-prefix": "training"}),
        )
