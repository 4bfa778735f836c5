"""The bucket of the bucket layout, its access-log bucket and the KMS key that encrypts the data.

Layout (DESIGN.md): dvc/ (DVC remote), raw/ (incoming extracts), models/triage/{dev,prod}/ (the promoted model of each
stage), predictions/{dev,prod}/ (prediction-log segments pushed by every task), monitoring/ (drift reports).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .environments import DVC_PREFIX, JOBS_PREFIX, StageConfig, predictions_prefix
from .nag import suppress


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, bucket_name: str, stages: Iterable[StageConfig],
                 access_log_days: int, job_files_days: int) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(self, "DataKey", description="triage data bucket and shared secrets",
                           enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN)
        self.log_bucket = self._log_bucket(access_log_days)
        self.bucket = s3.Bucket(
            self, "DataBucket", bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, minimum_tls_version=1.2,
            versioned=True, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.log_bucket, server_access_logs_prefix="s3-access/data/",
            lifecycle_rules=list(_lifecycle_rules(stages, job_files_days)), removal_policy=RemovalPolicy.RETAIN,
        )
        suppress(self.bucket, ["HIPAA.Security-S3BucketReplicationEnabled"],
                 "Cross-region replication is a disaster-recovery choice with its own region, cost and data-residency "
                 "review; versioning plus RETAIN already protect every object against overwrite and deletion.")

    def _log_bucket(self, days: int) -> s3.Bucket:
        bucket = s3.Bucket(
            self, "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True, minimum_tls_version=1.2, versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(days),
                                              noncurrent_version_expiration=Duration.days(30),
                                              abort_incomplete_multipart_upload_after=Duration.days(7))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        suppress(bucket, ["HIPAA.Security-S3DefaultEncryptionKMS"],
                 "S3 server access logs and ALB access logs can only be delivered to a bucket encrypted with SSE-S3 "
                 "(AES-256), not SSE-KMS; the logs hold request metadata, never clinical payloads.")
        suppress(bucket, ["HIPAA.Security-S3BucketReplicationEnabled"],
                 "Access logs are operational records kept for a limited period; replicating them to another region "
                 "would add cost without protecting clinical data.")
        return bucket


def object_arn(bucket_name: str, prefix: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{bucket_name}/{prefix}*"


def object_statements(bucket_name: str, key_arn: str, *, read: Iterable[str] = (), write: Iterable[str] = (),
                      delete: Iterable[str] = (), list_prefixes: Iterable[str] = ()) -> list[iam.PolicyStatement]:
    """Policy statements naming exactly these prefixes of the data bucket (each role's managed policy is built from
    them); the bucket is named by its deterministic name, so no stack imports another's bucket."""
    bucket_arn = f"arn:{Aws.PARTITION}:s3:::{bucket_name}"
    read, write, delete, list_prefixes = list(read), list(write), list(delete), list(list_prefixes)
    statements: list[iam.PolicyStatement] = []
    if read:
        statements.append(iam.PolicyStatement(sid="ReadObjects", actions=["s3:GetObject", "s3:GetObjectVersion"],
                                              resources=[object_arn(bucket_name, p) for p in read]))
    if write:
        statements.append(iam.PolicyStatement(sid="WriteObjects", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                              resources=[object_arn(bucket_name, p) for p in write]))
    if delete:
        statements.append(iam.PolicyStatement(sid="DeleteObjects", actions=["s3:DeleteObject"],
                                              resources=[object_arn(bucket_name, p) for p in delete]))
    if list_prefixes:
        patterns = sorted({pattern for p in list_prefixes for pattern in (p, p + "*", p.rstrip("/"))})
        statements.append(iam.PolicyStatement(sid="ListPrefixes", actions=["s3:ListBucket"], resources=[bucket_arn],
                                              conditions={"StringLike": {"s3:prefix": patterns}}))
        statements.append(iam.PolicyStatement(sid="BucketLocation", actions=["s3:GetBucketLocation"],
                                              resources=[bucket_arn]))
    key_actions = (["kms:Decrypt"] if read else []) + (["kms:GenerateDataKey", "kms:Decrypt"] if write else [])
    if key_actions:
        statements.append(iam.PolicyStatement(
            sid="DataKeyThroughS3", actions=sorted(set(key_actions)), resources=[key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}}))
    return statements


def object_findings(bucket_name: str, prefixes: Iterable[str]) -> list[str]:
    """cdk-nag's AwsSolutions-IAM5 finding ids for `object_statements` on these prefixes: cdk-nag renders a pseudo
    parameter such as the account id as <AWS::AccountId>."""
    rendered = re.sub(r"\$\{Token\[AWS\.(\w+)\.\d+\]\}", lambda match: f"<AWS::{match.group(1)}>",
                      object_arn(bucket_name, ""))
    return [f"AwsSolutions-IAM5[Resource::{rendered[:-1]}{prefix}*]" for prefix in prefixes]


def _lifecycle_rules(stages: Iterable[StageConfig], job_files_days: int) -> Iterable[s3.LifecycleRule]:
    for stage in stages:
        yield s3.LifecycleRule(
            id=f"prediction-segments-{stage.name}", prefix=predictions_prefix(stage.name),
            transitions=[s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                                       transition_after=Duration.days(stage.prediction_log_ia_days))],
            expiration=Duration.days(stage.prediction_log_expire_days),
            noncurrent_version_expiration=Duration.days(30))
    yield s3.LifecycleRule(id="dvc-noncurrent-versions", prefix=DVC_PREFIX,
                           noncurrent_version_expiration=Duration.days(90))
    # A heavy job's spec, code, inputs, outputs and logs: the runner copies the outputs into the workspace (and DVC)
    # when the job ends, so what stays under jobs/ is only for looking into a run afterwards.
    yield s3.LifecycleRule(id="job-files", prefix=JOBS_PREFIX, expiration=Duration.days(job_files_days),
                           noncurrent_version_expiration=Duration.days(7))
    yield s3.LifecycleRule(id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7))
