"""The AWS deployment of triage as code (AWS CDK, Python): a shared stack, one stack per stage, and the heavy-job
stack (EMR Serverless and AWS Batch for the pipeline's heavy stages)."""

from __future__ import annotations

from aws_cdk import App

from .compute import ComputeStack
from .environments import DeploymentConfig
from .nag import apply_packs
from .stacks import SharedStack, StageStack


def build(app: App, deployment: DeploymentConfig) -> tuple[SharedStack, dict[str, StageStack], ComputeStack]:
    shared = SharedStack(app, deployment)
    stages = {name: StageStack(app, deployment, stage, shared) for name, stage in deployment.stages.items()}
    compute = ComputeStack(app, deployment, shared)
    apply_packs(app)
    return shared, stages, compute
