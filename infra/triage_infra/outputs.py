"""Stack outputs are the GitHub Actions variables the workflows read.

Each output is named after its variable in CamelCase (AWS_ROLE_CI -> AwsRoleCi) and its description starts with
"GitHub repository variable NAME" (set once for the repository: the shared stack) or "GitHub environment variable
NAME" (set in the GitHub environment of the stage: dev or prod). `infra/github_variables.py` turns a deployed stack's
outputs into `gh variable set` commands, and a test fails if a workflow reads a `vars.X` that no stack produces.
"""

from __future__ import annotations

from aws_cdk import CfnOutput
from constructs import Construct

REPOSITORY = "repository"
ENVIRONMENT = "environment"


def output_id(variable: str) -> str:
    """AWS_ROLE_CI -> AwsRoleCi (output logical ids are alphanumeric)."""
    return "".join(part.capitalize() for part in variable.lower().split("_"))


def description(variable: str, scope: str, what: str) -> str:
    return f"GitHub {scope} variable {variable}: {what}"


def github_variable(scope_construct: Construct, variable: str, value: str, scope: str, what: str) -> CfnOutput:
    if scope not in (REPOSITORY, ENVIRONMENT):
        raise ValueError(f"scope must be {REPOSITORY!r} or {ENVIRONMENT!r}, got {scope!r}")
    return CfnOutput(scope_construct, output_id(variable), value=value, description=description(variable, scope, what))
