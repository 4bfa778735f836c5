"""The AWS deployment of triage as code (AWS CDK, Python): a shared stack and one stack per stage."""

from __future__ import annotations

from aws_cdk import App

from .environments import DeploymentConfig
from .nag import apply_packs
from .stacks import SharedStack, StageStack


def build(app: App, deployment: DeploymentConfig) -> tuple[SharedStack, dict[str, StageStack]]:
    shared = SharedStack(app, deployment)
    stages = {name: StageStack(app, deployment, stage, shared) for name, stage in deployment.stages.items()}
    apply_packs(app)
    return shared, stages
