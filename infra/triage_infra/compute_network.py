"""The heavy jobs' network: private isolated subnets only (no internet gateway, no NAT gateway, no public address),
and VPC endpoints for what EMR Serverless workers and Batch Fargate tasks call: S3 (gateway: data, and ECR's image
layers), ECR API and Docker registry (Fargate pulls the jobs image), CloudWatch Logs (awslogs, EMR's log
delivery), STS, and Secrets Manager (the pseudonym key of the ingest job). Jobs get a security group with no
ingress at all; the endpoints admit HTTPS from it only.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .environments import ComputeConfig
from .nag import suppress

INTERFACE_ENDPOINTS = {
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    # The ingest job reads the pseudonym key (TRIAGE_PSEUDONYM_KEY) from Secrets Manager (src/triage/cloud/job.py).
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
}


class JobsNetwork(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: ComputeConfig, log_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self, "Vpc", ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr), max_azs=config.availability_zones,
            nat_gateways=0, restrict_default_security_group=False,
            subnet_configuration=[ec2.SubnetConfiguration(name="jobs", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                                                          cidr_mask=20)],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        self.vpc.add_flow_log("FlowLogs", destination=ec2.FlowLogDestination.to_s3(log_bucket, "vpc-flow/compute/"),
                              traffic_type=ec2.FlowLogTrafficType.ALL)
        suppress(self.vpc, ["HIPAA.Security-VPCDefaultSecurityGroupClosed"],
                 "Nothing uses the default security group: the jobs and the endpoints each have their own. Closing it "
                 "takes a Lambda-backed custom resource (code asset, runtime to patch) for no change in what can "
                 "reach the jobs.")
        self.subnets = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.jobs_security_group = ec2.SecurityGroup(
            self, "JobsSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="triage heavy jobs (EMR Serverless workers, Batch tasks): no inbound traffic at all")
        # No route leaves the VPC: HTTPS reaches only the endpoints below and S3 through the gateway endpoint.
        self.jobs_security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                                 "HTTPS to the VPC endpoints and S3 (no other route out)")
        self.endpoint_security_group = ec2.SecurityGroup(
            self, "EndpointSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="triage compute VPC endpoints: HTTPS from the jobs only")
        self.endpoint_security_group.add_ingress_rule(self.jobs_security_group, ec2.Port.tcp(443),
                                                      "HTTPS from the jobs")
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(name, service=service, private_dns_enabled=True, open=False,
                                            security_groups=[self.endpoint_security_group],
                                            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED))

    @property
    def subnet_ids(self) -> list[str]:
        return list(self.subnets.subnet_ids)
