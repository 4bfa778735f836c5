"""Creating the synthesized templates in moto's CloudFormation (server mode, loopback), and what moto lacks.

moto 5.2.5's CloudFormation creates most resource types of the templates as CloudFormation would. It skips these
(warning "not supported by moto's CloudFormation implementation"), so the deployment creates them through their own
service APIs from the template's properties, with the intrinsics resolved against the created stack:

- before the stack (other resources reference them): AWS::SecretsManager::Secret (the value generated like
  GenerateSecretString; the KMS key set once the key exists), AWS::IAM::OIDCProvider,
  AWS::EMRServerless::Application (its network set after the stack);
- after the stack: AWS::S3::BucketPolicy, AWS::CloudWatch::Alarm, AWS::ApplicationAutoScaling::ScalableTarget and
  ::ScalingPolicy, AWS::EC2::SecurityGroupEgress, AWS::SNS::TopicPolicy.

Template adjustments for moto (each a moto limitation, not a change of what is deployed):
- the CDK bootstrap check (Rules and the BootstrapVersion SSM parameter) is dropped: there is no bootstrap here;
- AWS::KMS::Key Tags are passed as TagKey/TagValue, and AWS::ECR::Repository's ImageScanningConfiguration and
  EncryptionConfiguration keys in camelCase (moto keeps these template properties in the API's spelling);
- an AWS::EC2::FlowLog S3 destination loses its key prefix (moto looks the whole "bucket/prefix" up as a bucket);
- what moto's CloudFormation ignores of an AWS::S3::Bucket (versioning, public access block, ownership, lifecycle,
  logging) and of an AWS::ECR::Repository (its policy) is applied through their APIs, and a Batch compute
  environment gets a stand-in service role (emulator_resources.py; read-backs show what moto's services accept).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.config import Config

from . import emulator_resources as complete

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"  # the region the templates are synthesized for (environments.py default)
CREATED_BEFORE = ("AWS::SecretsManager::Secret", "AWS::IAM::OIDCProvider", "AWS::EMRServerless::Application")
CREATED_AFTER = ("AWS::S3::BucketPolicy", "AWS::CloudWatch::Alarm", "AWS::ApplicationAutoScaling::ScalableTarget",
                 "AWS::ApplicationAutoScaling::ScalingPolicy", "AWS::EC2::SecurityGroupEgress",
                 "AWS::SNS::TopicPolicy")
NOT_IN_MOTO_CLOUDFORMATION = CREATED_BEFORE + CREATED_AFTER + ("AWS::SNS::Subscription",)


def client(endpoint: str, service: str, credentials: dict[str, str] | None = None):
    credentials = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    session = botocore.session.get_session()
    return session.create_client(service, region_name=REGION, endpoint_url=endpoint,
                                 config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
                                 **credentials)


def for_moto(template: dict) -> dict:
    """The template with moto's limitations worked around (see the module docstring)."""
    template = copy.deepcopy(template)
    template.pop("Rules", None)
    template.get("Parameters", {}).pop("BootstrapVersion", None)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::KMS::Key" and "Tags" in properties:
            properties["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties["Tags"]]
        if resource["Type"] == "AWS::ECR::Repository":
            for name in ("ImageScanningConfiguration", "EncryptionConfiguration"):
                if name in properties:
                    properties[name] = {k[0].lower() + k[1:]: v for k, v in properties[name].items()}
        if resource["Type"] == "AWS::EC2::FlowLog" and properties.get("LogDestinationType") == "s3":
            destination = properties["LogDestination"]
            if isinstance(destination, dict) and "Fn::Join" in destination:
                properties["LogDestination"] = destination["Fn::Join"][1][0]  # the bucket ARN without the prefix
    return template


@dataclass
class Resolver:
    """Resolves CloudFormation intrinsics of one created stack (enough for the resources moto skips)."""

    endpoint: str
    parameters: dict[str, str]
    physical: dict[str, str]  # logical id -> physical id
    types: dict[str, str]  # logical id -> resource type
    exports: dict[str, str]
    conditions: dict[str, Any]
    extra_refs: dict[str, Any] = field(default_factory=dict)
    extra_attributes: dict[str, dict[str, str]] = field(default_factory=dict)  # of resources created outside

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com"}
        for table in (pseudo, self.parameters, self.extra_refs, self.physical):
            if name in table:
                return table[name]
        raise KeyError(f"Ref {name}: not a parameter or created resource")

    def get_att(self, name: str, attribute: str) -> str:
        if attribute in self.extra_attributes.get(name, {}):
            return self.extra_attributes[name][attribute]
        kind, physical = self.types[name], self.physical[name]
        getters: dict[tuple[str, str], Callable[[], str]] = {
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:aws:s3:::{physical}",
            # (moto's DescribeKey fails on a key whose policy came from a template: the ARN is built instead)
            ("AWS::KMS::Key", "Arn"): lambda: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{physical}",
            ("AWS::IAM::Role", "Arn"): lambda: client(self.endpoint, "iam").get_role(RoleName=physical)["Role"]["Arn"],
            ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerFullName"):
                lambda: physical.split(":loadbalancer/", 1)[1],
            ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupFullName"): lambda: physical.split(":")[-1],
            ("AWS::ECS::Service", "Name"): lambda: physical.split("/")[-1],
            ("AWS::EC2::SecurityGroup", "GroupId"): lambda: physical,
        }
        if (kind, attribute) not in getters:
            raise KeyError(f"GetAtt {name}.{attribute} ({kind}) is not resolved by the test's emulator")
        return getters[(kind, attribute)]()

    def condition(self, name: str) -> bool:
        return bool(self(self.conditions[name]))

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                return self.get_att(*argument)
            if key == "Fn::Join":
                return argument[0].join(str(self(v)) for v in self(argument[1]))
            if key == "Fn::Select":
                return self(argument[1])[int(self(argument[0]))]
            if key == "Fn::Split":
                return str(self(argument[1])).split(argument[0])
            if key == "Fn::ImportValue":
                return self.exports[self(argument)]
            if key == "Fn::If":
                return self(argument[1] if self.condition(argument[0]) else argument[2])
            if key == "Fn::Equals":
                return self(argument[0]) == self(argument[1])
            if key == "Fn::Not":
                return not self(argument[0])
            if key == "Condition":
                return self.condition(argument)
        return {k: self(v) for k, v in value.items()}


@dataclass
class Deployed:
    stack: str
    outputs: dict[str, str]
    physical: dict[str, str]
    types: dict[str, str]
    created_outside_cloudformation: dict[str, str]  # logical id -> what the emulator created (name, ARN, id)
    alarm_names: dict[str, str]
    secret_values: dict[str, str]  # logical id -> generated value (never in a template)


def deploy(endpoint: str, stack: str, template: dict, parameters: dict[str, str] | None = None) -> Deployed:
    """Create one stack in moto: the skipped resources through their APIs, the rest through CloudFormation."""
    parameters = dict(parameters or {})
    template = for_moto(template)
    resources = template["Resources"]
    created: dict[str, str] = {}
    secret_values: dict[str, str] = {}
    pending_keys: dict[str, Any] = {}
    attributes: dict[str, dict[str, str]] = {}
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            arn, value = _create_secret(endpoint, f"{stack}-{logical}", resource["Properties"])
            created[logical], secret_values[logical] = arn, value
            if "KmsKeyId" in resource["Properties"]:
                pending_keys[logical] = resource["Properties"]["KmsKeyId"]
        elif resource["Type"] == "AWS::IAM::OIDCProvider":
            properties = resource["Properties"]
            created[logical] = client(endpoint, "iam").create_open_id_connect_provider(
                Url=properties["Url"], ClientIDList=properties.get("ClientIdList", []),
                ThumbprintList=properties.get("ThumbprintList", []))["OpenIDConnectProviderArn"]
        elif resource["Type"] == "AWS::EMRServerless::Application":
            created[logical], attributes[logical] = complete.create_emr_application(
                client(endpoint, "emr-serverless"), resource["Properties"])
        elif resource["Type"] == "AWS::Batch::ComputeEnvironment" and "ServiceRole" not in resource["Properties"]:
            resource["Properties"]["ServiceRole"] = complete.batch_service_role(client(endpoint, "iam"))
    template = _replace_refs(template, created, attributes)
    for logical in created:
        del template["Resources"][logical]
    cloudformation = client(endpoint, "cloudformation")
    cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template),
                                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described
    listed = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    # moto also lists the resources it skipped, without ids: keep the ones it created
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed if r.get("LogicalResourceId")}
    types = {logical: r["Type"] for logical, r in resources.items()}
    exports = {e["Name"]: e.get("Value", "") for e in cloudformation.list_exports()["Exports"]}
    defaults = {k: v.get("Default", "") for k, v in template.get("Parameters", {}).items()}
    resolve = Resolver(endpoint, {**defaults, **parameters}, physical, types, exports,
                       template.get("Conditions", {}), extra_refs=dict(created), extra_attributes=attributes)
    for logical, key in pending_keys.items():
        client(endpoint, "secretsmanager").update_secret(SecretId=created[logical], KmsKeyId=resolve(key))
    buckets = {physical[logical]: resolve(r.get("Properties", {})) for logical, r in resources.items()
               if r["Type"] == "AWS::S3::Bucket"}
    for bucket, properties in buckets.items():
        complete.complete_bucket(client(endpoint, "s3"), bucket, properties)
    alarm_names = _create_after(endpoint, stack, resources, resolve, created)
    _complete_compute(endpoint, resources, physical, created, resolve)
    for bucket, properties in buckets.items():  # after the bucket policies: S3 checks the target grants delivery
        if "LoggingConfiguration" in properties:
            logging = properties["LoggingConfiguration"]
            client(endpoint, "s3").put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": {
                "TargetBucket": logging["DestinationBucketName"], "TargetPrefix": logging.get("LogFilePrefix", "")}})
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in described.get("Outputs", [])}
    return Deployed(stack, outputs, physical, types, created, alarm_names, secret_values)


def _complete_compute(endpoint: str, resources: dict, physical: dict[str, str], created: dict[str, str],
                      resolve: Resolver) -> None:
    """What the compute stack's resources lack after moto's CloudFormation (emulator_resources.py)."""
    for logical, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::EMRServerless::Application":
            complete.complete_emr_application(client(endpoint, "emr-serverless"), created[logical],
                                              resolve(properties["NetworkConfiguration"]))
        elif resource["Type"] == "AWS::ECR::Repository" and "RepositoryPolicyText" in properties:
            complete.put_repository_policy(client(endpoint, "ecr"), physical[logical],
                                           resolve(properties["RepositoryPolicyText"]))


def _create_secret(endpoint: str, name: str, properties: dict) -> tuple[str, str]:
    secrets = client(endpoint, "secretsmanager")
    generate = properties.get("GenerateSecretString", {})
    value = secrets.get_random_password(PasswordLength=int(generate.get("PasswordLength", 32)),
                                        ExcludePunctuation=bool(generate.get("ExcludePunctuation", False)),
                                        IncludeSpace=bool(generate.get("IncludeSpace", False)))["RandomPassword"]
    arn = secrets.create_secret(Name=name, Description=properties.get("Description", ""), SecretString=value)["ARN"]
    return arn, value


def _replace_refs(value: Any, created: dict[str, str], attributes: dict[str, dict[str, str]]) -> Any:
    """Ref and GetAtt of the resources created before the stack, as their values."""
    if isinstance(value, list):
        return [_replace_refs(v, created, attributes) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in created:
            return created[value["Ref"]]
        if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in attributes:
            return attributes[value["Fn::GetAtt"][0]][value["Fn::GetAtt"][1]]
        return {k: _replace_refs(v, created, attributes) for k, v in value.items()}
    return value


def _create_after(endpoint: str, stack: str, resources: dict, resolve: Resolver, created: dict[str, str]
                  ) -> dict[str, str]:
    alarm_names: dict[str, str] = {}
    targets: dict[str, dict] = {}
    order = sorted(((logical, r) for logical, r in resources.items() if r["Type"] in CREATED_AFTER),
                   key=lambda item: CREATED_AFTER.index(item[1]["Type"]))
    for logical, resource in order:
        kind = resource["Type"]
        raw = resource.get("Properties", {})
        if kind == "AWS::ApplicationAutoScaling::ScalingPolicy":  # its target is known here, not to CloudFormation
            raw = {k: v for k, v in raw.items() if k != "ScalingTargetId"}
        properties = resolve(raw)
        if kind == "AWS::S3::BucketPolicy":
            client(endpoint, "s3").put_bucket_policy(Bucket=properties["Bucket"],
                                                     Policy=json.dumps(properties["PolicyDocument"]))
            created[logical] = properties["Bucket"]
        elif kind == "AWS::CloudWatch::Alarm":
            name = f"{stack}-{logical}"
            client(endpoint, "cloudwatch").put_metric_alarm(AlarmName=name, **properties)
            alarm_names[logical] = created[logical] = name
        elif kind == "AWS::ApplicationAutoScaling::ScalableTarget":
            tags = {t["Key"]: t["Value"] for t in properties.pop("Tags", [])}  # the API takes a map
            client(endpoint, "application-autoscaling").register_scalable_target(**properties, Tags=tags)
            targets[logical] = properties
            created[logical] = properties["ResourceId"]
        elif kind == "AWS::ApplicationAutoScaling::ScalingPolicy":
            target = targets[resource["Properties"]["ScalingTargetId"]["Ref"]]
            client(endpoint, "application-autoscaling").put_scaling_policy(
                ServiceNamespace=target["ServiceNamespace"], ResourceId=target["ResourceId"],
                ScalableDimension=target["ScalableDimension"], **properties)
            created[logical] = properties["PolicyName"]
        elif kind == "AWS::EC2::SecurityGroupEgress":
            permission = {"IpProtocol": properties["IpProtocol"], "FromPort": properties["FromPort"],
                          "ToPort": properties["ToPort"]}
            if "DestinationSecurityGroupId" in properties:
                permission["UserIdGroupPairs"] = [{"GroupId": properties["DestinationSecurityGroupId"]}]
            else:
                permission["IpRanges"] = [{"CidrIp": properties["CidrIp"]}]
            client(endpoint, "ec2").authorize_security_group_egress(GroupId=properties["GroupId"],
                                                                    IpPermissions=[permission])
            created[logical] = properties["GroupId"]
        elif kind == "AWS::SNS::TopicPolicy":
            for topic in properties["Topics"]:
                client(endpoint, "sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                                             AttributeValue=json.dumps(properties["PolicyDocument"]))
            created[logical] = ",".join(properties["Topics"])
        resolve.extra_refs[logical] = created[logical]
    return alarm_names
