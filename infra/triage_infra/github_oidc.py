"""GitHub Actions OIDC: the provider and the roles the workflows assume. No long-lived keys anywhere.

Each role trusts tokens of this repository only (the `sub` claim starts with repo:OWNER/NAME:) and only the subjects
of the workflows that use it:
- CI (pull-request report, promotion gate, retraining): pull requests, the two long-lived branches, registry tags;
- monitor (scheduled): the default branch;
- publish / deploy of a stage: the GitHub environment of that stage only (environment:prod is the protected one).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from .environments import GITHUB_OIDC_HOST, DeploymentConfig
from .nag import suppress


class GithubOidcProvider(Construct):
    """Creates the account's GitHub OIDC provider, or uses an existing one (context github_oidc_provider_arn):
    an account holds one provider per URL."""

    def __init__(self, scope: Construct, construct_id: str, *, existing_arn: str | None) -> None:
        super().__init__(scope, construct_id)
        if existing_arn:
            self.arn = existing_arn
        else:
            provider = iam.OidcProviderNative(self, "Provider", url=f"https://{GITHUB_OIDC_HOST}",
                                              client_ids=["sts.amazonaws.com"])
            self.arn = provider.oidc_provider_arn


def subjects_ci(deployment: DeploymentConfig) -> list[str]:
    repo = f"repo:{deployment.github_repository}"
    return [f"{repo}:pull_request", f"{repo}:ref:refs/heads/{deployment.default_branch}",
            f"{repo}:ref:refs/heads/{deployment.integration_branch}", f"{repo}:ref:refs/tags/triage-model*"]


def subjects_monitor(deployment: DeploymentConfig) -> list[str]:
    return [f"repo:{deployment.github_repository}:ref:refs/heads/{deployment.default_branch}"]


def subjects_environment(deployment: DeploymentConfig, environment: str) -> list[str]:
    return [f"repo:{deployment.github_repository}:environment:{environment}"]


def github_role(scope: Construct, construct_id: str, *, provider_arn: str, subjects: Sequence[str], description: str,
                statements: Sequence[iam.PolicyStatement], reason: str | None = None,
                acknowledged: Sequence[str] = ()) -> iam.Role:
    """A role for GitHub Actions with one managed policy (no inline policies) holding exactly `statements`;
    `acknowledged` names the cdk-nag findings (wildcards) that `reason` justifies."""
    principal = iam.WebIdentityPrincipal(provider_arn, conditions={
        "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"},
        "StringLike": {f"{GITHUB_OIDC_HOST}:sub": list(subjects)},
    })
    role = iam.Role(scope, construct_id, assumed_by=principal, description=description,
                    max_session_duration=Duration.hours(1))
    policy = iam.ManagedPolicy(scope, f"{construct_id}Policy", description=description, statements=list(statements),
                               roles=[role])
    if acknowledged:
        suppress(policy, acknowledged, reason or "")
    return role
