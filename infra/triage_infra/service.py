"""The triage service of one stage on ECS Fargate behind an HTTPS Application Load Balancer.

Network: a VPC of two public subnets and no NAT gateway. Tasks get a public IP for their outbound calls (ECR, S3,
Secrets Manager, CloudWatch Logs) but their security group accepts traffic only from the load balancer, on the
service port; S3 traffic goes through a (free) gateway endpoint. See infra/README.md for the cost reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnCondition, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .environments import CONTAINER_NAME, SERVICE_PORT, DeploymentConfig, StageConfig, model_prefix, predictions_prefix
from .nag import suppress
from .storage import Storage, object_findings, object_statements

LOG_DIR = "/var/log/triage"  # the image's TRIAGE_LOG_DIR (Dockerfile), owned by the image's non-root user

_RETENTION = {1: logs.RetentionDays.ONE_DAY, 7: logs.RetentionDays.ONE_WEEK, 30: logs.RetentionDays.ONE_MONTH,
              90: logs.RetentionDays.THREE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS,
              365: logs.RetentionDays.ONE_YEAR, 400: logs.RetentionDays.THIRTEEN_MONTHS,
              731: logs.RetentionDays.TWO_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
              2192: logs.RetentionDays.SIX_YEARS, 3653: logs.RetentionDays.TEN_YEARS}


@dataclass(frozen=True)
class Image:
    """The container image: the stage's repository at the tag of the CfnParameter ImageTag. Before the first image
    exists (ImageTag empty) the service is created with no task; see infra/README.md, "First deployment"."""

    repository: ecr.IRepository
    tag: str
    present: CfnCondition


def retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"log retention must be one of {sorted(_RETENTION)} days, got {days}")
    return _RETENTION[days]


def environment_variables(stage: StageConfig, bucket_name: str) -> dict[str, str]:
    """What the service validates at start (service/triage_service/settings.py), except the two secrets."""
    return {
        "TRIAGE_ENV": stage.name,
        "TRIAGE_BUCKET": bucket_name,
        "TRIAGE_HOST": "0.0.0.0",
        "TRIAGE_PORT": str(SERVICE_PORT),
        "TRIAGE_LOG_DIR": LOG_DIR,
        "TRIAGE_LOG_PUSH_INTERVAL_S": str(stage.log_push_interval_s),
        "TRIAGE_MAX_BATCH": str(stage.max_batch),
        "TRIAGE_MAX_INFLIGHT": str(stage.max_inflight),
        "AWS_DEFAULT_REGION": Aws.REGION,
    }


class Service(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig, deployment: DeploymentConfig,
                 storage: Storage, bucket_name: str, key: kms.IKey, pseudonym_key: secretsmanager.ISecret, image: Image,
                 certificate_arn: str) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.bucket_name = bucket_name
        self.vpc = self._network(stage, storage)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc,
                                   container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.api_keys = secretsmanager.Secret(
            self, "ApiKeys", description=f"triage {stage.name}: TRIAGE_API_KEYS (comma-separated, each >= 16 chars)",
            encryption_key=key, removal_policy=RemovalPolicy.RETAIN,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=40, exclude_punctuation=True,
                                                                        include_space=False))
        suppress(self.api_keys, ["AwsSolutions-SMG4", "HIPAA.Security-SecretsManagerRotationEnabled"],
                 "API keys are held by the clinical clients: a new key is added beside the old one, clients move, "
                 "then the old one is removed (infra/README.md); an unattended rotation would lock clients out.")
        self.log_group = logs.LogGroup(self, "Logs", retention=retention(stage.log_retention_days), encryption_key=key,
                                       removal_policy=RemovalPolicy.RETAIN)
        self.task_role = iam.Role(self, "TaskRole", assumed_by=_ecs_tasks(),
                                  description=f"triage {stage.name} task: reads {model_prefix(stage.name)}, writes "
                                              f"{predictions_prefix(stage.name)}")
        self.execution_role = iam.Role(self, "ExecutionRole", assumed_by=_ecs_tasks(),
                                       description=f"triage {stage.name}: pulls the image, writes logs, reads the two "
                                                   "secrets at task start")
        self.task_definition = self._task_definition(stage, storage, pseudonym_key, image)
        self._policies(storage, key, pseudonym_key, image.repository)
        self.load_balancer, self.target_group = self._load_balancer(stage, deployment, storage, certificate_arn)
        self.service = self._service(stage, image.present)

    # -- network ------------------------------------------------------------------------------------------------
    def _network(self, stage: StageConfig, storage: Storage) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self, "Vpc", ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"), max_azs=2, nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC,
                                                          cidr_mask=24, map_public_ip_on_launch=False)],
            restrict_default_security_group=False,
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        vpc.add_flow_log("FlowLogs", destination=ec2.FlowLogDestination.to_s3(storage.log_bucket,
                                                                              f"vpc-flow/{stage.name}/"),
                         traffic_type=ec2.FlowLogTrafficType.ALL)
        suppress(vpc, ["HIPAA.Security-VPCDefaultSecurityGroupClosed"],
                 "Nothing uses the default security group: the load balancer and the tasks each have their own. "
                 "Closing it takes a Lambda-backed custom resource (code asset, runtime to patch) for no change in "
                 "what can reach the service.")
        suppress(vpc, ["HIPAA.Security-VPCNoUnrestrictedRouteToIGW"],
                 "The public subnets route 0.0.0.0/0 to the internet gateway by design: the load balancer "
                        "serves clients there and the tasks reach AWS APIs without a NAT gateway; inbound traffic "
                        "is closed by security groups (tasks accept only the load balancer).")
        return vpc

    # -- task ---------------------------------------------------------------------------------------------------
    def _task_definition(self, stage: StageConfig, storage: Storage, pseudonym_key: secretsmanager.ISecret,
                         image: Image) -> ecs.FargateTaskDefinition:
        task_definition = ecs.FargateTaskDefinition(
            self, "TaskDefinition", family=f"triage-{stage.name}", cpu=stage.cpu, memory_limit_mib=stage.memory_mib,
            # Policies are attached as managed policies below, with every statement written out; CDK's implicit
            # grants (image pull, logs, secrets) are turned off so nothing is added that a reader cannot see here.
            task_role=self.task_role.without_policy_updates(),
            execution_role=self.execution_role.without_policy_updates(),
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.X86_64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX))
        task_definition.add_container(
            CONTAINER_NAME,
            image=ecs.ContainerImage.from_ecr_repository(
                image.repository, Fn.condition_if(image.present.logical_id, image.tag, "none").to_string()),
            environment=environment_variables(stage, self.bucket_name),
            secrets={"TRIAGE_API_KEYS": ecs.Secret.from_secrets_manager(self.api_keys),
                     # By ARN: the shared stack's Secret object would make CDK grant through its resource policy,
                     # a reference back from the shared stack to this one.
                     "TRIAGE_PSEUDONYM_KEY": ecs.Secret.from_secrets_manager(
                         secretsmanager.Secret.from_secret_complete_arn(self, "PseudonymKeyRef",
                                                                        pseudonym_key.secret_arn))},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="service", log_group=self.log_group),
            port_mappings=[ecs.PortMapping(container_port=SERVICE_PORT, protocol=ecs.Protocol.TCP)],
            stop_timeout=Duration.seconds(30),  # the service pushes its last log segment at shutdown
            essential=True,
        )
        suppress(task_definition, ["AwsSolutions-ECS2"],
                 "The plain environment variables are non-secret settings (stage, bucket name, port, limits) that "
                 "the service validates at start; both secrets (API keys, pseudonym key) come from Secrets Manager.")
        return task_definition

    def _policies(self, storage: Storage, key: kms.IKey, pseudonym_key: secretsmanager.ISecret,
                  repository: ecr.IRepository) -> None:
        stage = self.stage.name
        self.task_policy = task_policy = iam.ManagedPolicy(
            self, "TaskPolicy", description=f"triage {stage} task: its stage's model and prediction-log prefixes",
            statements=object_statements(self.bucket_name, storage.key.key_arn, read=[model_prefix(stage)],
                                         write=[predictions_prefix(stage)]),
            roles=[self.task_role])
        suppress(task_policy, object_findings(self.bucket_name, [model_prefix(stage), predictions_prefix(stage)]),
                 f"Objects under the stage's own prefixes only: read {model_prefix(stage)}* (model, manifest, card), "
                 f"write {predictions_prefix(stage)}* (each task names its segments by host and byte offset).")
        self.execution_policy = execution_policy = iam.ManagedPolicy(
            self, "ExecutionPolicy", description=f"triage {stage} task start: image, logs, secrets",
            statements=[
                iam.PolicyStatement(sid="RegistryToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(sid="PullImage", resources=[repository.repository_arn],
                                    actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                                             "ecr:BatchGetImage"]),
                iam.PolicyStatement(sid="WriteLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                    resources=[f"{self.log_group.log_group_arn}"]),
                iam.PolicyStatement(sid="ReadSecrets", actions=["secretsmanager:GetSecretValue"],
                                    resources=[self.api_keys.secret_arn, pseudonym_key.secret_arn]),
                iam.PolicyStatement(sid="DecryptSecrets", actions=["kms:Decrypt"],
                                    resources=[key.key_arn, storage.key.key_arn],
                                    conditions={"StringEquals": {
                                        "kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}}),
            ],
            roles=[self.execution_role])
        suppress(execution_policy, ["AwsSolutions-IAM5[Resource::*]"],
                 "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); every other "
                 "statement names its repository, log group, secrets and keys.")

    # -- load balancer ------------------------------------------------------------------------------------------
    def _load_balancer(self, stage: StageConfig, deployment: DeploymentConfig, storage: Storage,
                       certificate_arn: str) -> tuple[elbv2.ApplicationLoadBalancer, elbv2.ApplicationTargetGroup]:
        security_group = ec2.SecurityGroup(self, "LoadBalancerSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
                                           description=f"triage {stage.name} load balancer: HTTPS from clients")
        for cidr in deployment.ingress_cidrs:
            security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), "HTTPS from clients")
            security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
        if "0.0.0.0/0" in deployment.ingress_cidrs:
            suppress(security_group, ["AwsSolutions-EC23"],
                     "A public HTTPS API for clinical clients (hospital systems, clinicians' browsers) authenticated "
                     "by API key; narrow it with the context value ingress_cidrs when the clients' networks are known.")
        load_balancer = elbv2.ApplicationLoadBalancer(
            self, "LoadBalancer", vpc=self.vpc, internet_facing=True, security_group=security_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC), drop_invalid_header_fields=True,
            deletion_protection=stage.alb_deletion_protection)
        load_balancer.log_access_logs(storage.log_bucket, prefix=f"alb/{stage.name}")
        if not stage.alb_deletion_protection:
            suppress(load_balancer, ["HIPAA.Security-ELBDeletionProtectionEnabled"],
                     f"The {stage.name} stage is torn down and rebuilt freely (environments.py sets "
                     "alb_deletion_protection per stage); prod has deletion protection on.")
        self.https_listener = https = load_balancer.add_listener(
            "Https", port=443, protocol=elbv2.ApplicationProtocol.HTTPS, open=False,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS)
        http = load_balancer.add_listener(
            "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False,
            default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port="443", permanent=True))
        suppress(http, ["HIPAA.Security-ELBv2ACMCertificateRequired"],
                 "Port 80 only answers a permanent redirect to HTTPS (443); it serves nothing, so it carries no "
                 "certificate. The HTTPS listener uses the ACM certificate of the CertificateArn parameter.")
        target_group = https.add_targets(
            "Service", port=SERVICE_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(path="/readyz", healthy_http_codes="200", interval=Duration.seconds(15),
                                           timeout=Duration.seconds(5), healthy_threshold_count=2,
                                           unhealthy_threshold_count=3))
        return load_balancer, target_group

    # -- service ------------------------------------------------------------------------------------------------
    def _service(self, stage: StageConfig, image_present: CfnCondition) -> ecs.FargateService:
        security_group = ec2.SecurityGroup(self, "TaskSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
                                           description=f"triage {stage.name} tasks: only the load balancer in")
        security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                       "HTTPS to AWS APIs (ECR, S3, Secrets Manager, CloudWatch Logs)")
        service = ecs.FargateService(
            self, "Service", cluster=self.cluster, task_definition=self.task_definition,
            desired_count=stage.min_tasks, assign_public_ip=True, security_groups=[security_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100, max_healthy_percent=200, health_check_grace_period=Duration.seconds(60),
            enable_ecs_managed_tags=True, propagate_tags=ecs.PropagatedTagSource.SERVICE)
        self.target_group.add_target(service)
        service.connections.allow_from(self.load_balancer, ec2.Port.tcp(SERVICE_PORT), "from the load balancer")
        scaling = service.auto_scale_task_count(min_capacity=stage.min_tasks, max_capacity=stage.max_tasks)
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=stage.cpu_target_percent,
                                         scale_in_cooldown=Duration.minutes(5), scale_out_cooldown=Duration.minutes(1))
        scaling.scale_on_request_count("Requests", requests_per_target=stage.requests_per_task,
                                       target_group=self.target_group, scale_in_cooldown=Duration.minutes(5),
                                       scale_out_cooldown=Duration.minutes(1))
        # No image yet (first deployment): no task, and autoscaling pinned at zero until ImageTag is set.
        cfn_service = service.node.default_child
        # DependsOn written out: the HTTPS listener (the target group must be attached before the service registers)
        # and both roles with their managed policies (tasks must not start without them). CDK's own list also named
        # the target group, which LoadBalancers already references (cfn-lint W3005), and missed the policies.
        stack = Stack.of(self)
        cfn_service.add_override("DependsOn", [stack.get_logical_id(c.node.default_child) for c in (
            self.https_listener, self.task_role, self.execution_role, self.task_policy, self.execution_policy)])
        cfn_service.add_property_override("DesiredCount", Fn.condition_if(image_present.logical_id, stage.min_tasks, 0))
        target = scaling.node.find_child("Target").node.default_child
        target.add_property_override("MinCapacity", Fn.condition_if(image_present.logical_id, stage.min_tasks, 0))
        target.add_property_override("MaxCapacity", Fn.condition_if(image_present.logical_id, stage.max_tasks, 0))
        return service


def _ecs_tasks() -> iam.IPrincipal:
    """ECS tasks of this account only (confused-deputy guard)."""
    return iam.ServicePrincipal("ecs-tasks.amazonaws.com", conditions={
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"}})
