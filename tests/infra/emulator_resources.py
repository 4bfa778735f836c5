"""Resources moto's CloudFormation creates incompletely or not at all, made whole through their own service APIs from
the template's properties (tests/infra/emulator.py uses these; infra/README.md lists what stays unemulated).

- AWS::S3::Bucket: moto's CloudFormation applies only BucketName, BucketEncryption and Tags; versioning, the public
  access block, object ownership and lifecycle rules are applied here (logging by emulator.deploy, after the bucket
  policies);
- AWS::EMRServerless::Application: not in moto's CloudFormation. Created before the stack (its id and ARN are read
  by outputs and by the jobs repository's policy) with what moto's EMR Serverless keeps (name, release, type,
  maximum capacity, auto-start, auto-stop); its network configuration (subnets and security group of the stack) is
  set after the stack. Image, runtime, monitoring and interactive configuration moto does not keep: checked on the
  template (tests/infra/test_compute.py);
- AWS::Batch::ComputeEnvironment without ServiceRole (Batch's service-linked role in AWS): moto requires a role,
  so a stand-in AWSServiceRoleForBatch is created in the emulator's IAM;
- AWS::ECR::Repository's RepositoryPolicyText, which moto's CloudFormation ignores: set after the stack.
"""

from __future__ import annotations

import json
from typing import Any

EMR_KEPT = ("Name", "ReleaseLabel", "Type", "MaximumCapacity", "AutoStartConfiguration", "AutoStopConfiguration")
BATCH_SERVICE_ROLE = "AWSServiceRoleForBatch"


def camel(value: Any) -> Any:
    """CloudFormation's PascalCase keys in the API's camelCase (recursively)."""
    if isinstance(value, dict):
        return {key[0].lower() + key[1:]: camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


def create_emr_application(emr, properties: dict) -> tuple[str, dict[str, str]]:
    """The application without its network (created before the stack): its id and its GetAtt attributes."""
    created = emr.create_application(**camel({k: v for k, v in properties.items() if k in EMR_KEPT}))
    return created["applicationId"], {"ApplicationId": created["applicationId"], "Arn": created["arn"]}


def complete_emr_application(emr, application_id: str, network: dict) -> None:
    """moto creates an application STARTED (AWS: CREATED) and updates only a stopped one; it stays stopped (as after
    auto-stop: the next job run starts it)."""
    emr.stop_application(applicationId=application_id)
    emr.update_application(applicationId=application_id, networkConfiguration=camel(network))


def batch_service_role(iam) -> str:
    """A stand-in for Batch's service-linked role (moto's compute environments require a role)."""
    try:
        return iam.get_role(RoleName=BATCH_SERVICE_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"Service": "batch.amazonaws.com"}}]}
        return iam.create_role(RoleName=BATCH_SERVICE_ROLE, Path="/aws-service-role/batch.amazonaws.com/",
                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def put_repository_policy(ecr, repository: str, policy: dict) -> None:
    ecr.set_repository_policy(repositoryName=repository, policyText=json.dumps(policy))


def complete_bucket(s3, bucket: str, properties: dict) -> None:
    """The bucket properties moto's CloudFormation ignores, applied through the S3 API from the template."""
    if "VersioningConfiguration" in properties:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=properties["VersioningConfiguration"])
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(Bucket=bucket,
                                   PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"])
    if "OwnershipControls" in properties:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=properties["OwnershipControls"])
    if "LifecycleConfiguration" in properties:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={
            "Rules": [lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"]["Rules"]]})


def lifecycle_rule(rule: dict) -> dict:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    converted: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"],
                                 "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "Transitions" in rule:
        converted["Transitions"] = [{"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
                                    for t in rule["Transitions"]]
    for key in ("NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
        if key in rule:
            converted[key] = rule[key]
    return converted
