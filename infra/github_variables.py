#!/usr/bin/env python3
"""Print the `gh variable set` commands for the GitHub variables the deployed stacks' outputs hold.

Every output whose description starts "GitHub repository variable NAME" or "GitHub environment variable NAME"
(triage_infra/outputs.py) becomes one command: a repository variable (shared and compute stacks) or a variable of the
stage's GitHub environment (`--env dev|prod`, the stage stacks). Nothing is set here: review, then run them.

    infra/.venv/bin/python infra/github_variables.py [--prefix triage] [--region eu-west-1] [--stages dev,prod]
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Iterable, Mapping

DESCRIPTION = re.compile(r"^GitHub (repository|environment) variable ([A-Z0-9_]+): ")


def commands(outputs: Iterable[Mapping[str, str]], environment: str | None) -> list[str]:
    """`gh variable set` for each GitHub-variable output (OutputValue, Description) of one stack."""
    lines = []
    for output in outputs:
        match = DESCRIPTION.match(output.get("Description", ""))
        if not match:
            continue
        scope, variable = match.groups()
        if scope == "environment" and environment is None:
            raise ValueError(f"{variable} is an environment variable, but its stack belongs to no stage")
        target = f" --env {environment}" if scope == "environment" else ""
        lines.append(f"gh variable set {variable}{target} --body {shlex.quote(output['OutputValue'])}")
    return sorted(lines)


def stacks(prefix: str, stages: Iterable[str]) -> dict[str, str | None]:
    """Stack name -> the GitHub environment of its environment-scoped variables (None: repository variables only)."""
    return {f"{prefix}-shared": None, f"{prefix}-compute": None, **{f"{prefix}-{stage}": stage for stage in stages}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="triage")
    parser.add_argument("--region", default=None, help="default: the AWS CLI's configured region")
    parser.add_argument("--stages", default="dev,prod")
    args = parser.parse_args(argv)
    import boto3  # infra/.venv (requirements.txt)
    from botocore.exceptions import ClientError

    cloudformation = boto3.client("cloudformation", region_name=args.region)
    missing = 0
    for stack, environment in stacks(args.prefix, [s for s in args.stages.split(",") if s]).items():
        try:
            (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
        except ClientError as error:
            print(f"# {stack}: not deployed ({error.response['Error']['Message']})", file=sys.stderr)
            missing += 1
            continue
        print(f"# {stack}")
        print("\n".join(commands(described.get("Outputs", []), environment)))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
