"""The stage's image repository (ECR): scan on push, immutable tags (the commit sha), bounded history."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecr as ecr
from constructs import Construct

KEEP_IMAGES = 30  # every deploy of a new commit adds one image; older ones are expired (rollback = a recent sha)


class Registry(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, repository_name: str) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self, "Repository", repository_name=repository_name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            # AES-256 at rest: the image holds code and no clinical data; a customer key would add a key grant to
            # every pull for no gain in what is protected.
            encryption=ecr.RepositoryEncryption.AES_256,
            lifecycle_rules=[ecr.LifecycleRule(description=f"keep the newest {KEEP_IMAGES} images",
                                               max_image_count=KEEP_IMAGES)],
            removal_policy=RemovalPolicy.RETAIN,
        )
