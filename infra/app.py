#!/usr/bin/env python3
"""The CDK app: `cdk synth` / `cdk deploy` run it (cdk.json), and so can `python app.py` (same templates).

Context (cdk.json, or -c key=value): github_repository (required), region, account, alarm_email, ingress_cidrs,
github_oidc_provider_arn, default_branch, integration_branch, prefix. See triage_infra/environments.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# jsii prints a banner on every start when Node.js is past its end of life (Node 20 here, 18 in Debian bookworm).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

from aws_cdk import App  # noqa: E402
from triage_infra import build  # noqa: E402
from triage_infra.environments import ConfigError, load  # noqa: E402

HERE = Path(__file__).resolve().parent


def file_context() -> dict:
    """cdk.json's context (feature flags and defaults): the CLI passes it itself; `python app.py` reads it here."""
    return json.loads((HERE / "cdk.json").read_text(encoding="utf-8")).get("context", {})


def main() -> int:
    app = App(context=file_context(), analytics_reporting=False)
    context = {key: app.node.try_get_context(key) for key in (
        "github_repository", "region", "account", "alarm_email", "ingress_cidrs", "github_oidc_provider_arn",
        "default_branch", "integration_branch", "prefix")}
    try:
        deployment = load(context)
    except ConfigError as error:
        print(f"triage-infra: configuration error: {error}", file=sys.stderr)
        return 2
    build(app, deployment)
    try:
        assembly = app.synth()
    except RuntimeError as error:  # jsii surfaces a failed validation (cdk-nag finding) as RuntimeError
        if "ValidationFailed" not in str(error):
            raise
        print(f"triage-infra: {error}\n(cdk-nag findings without an acknowledgment: see the report above)",
              file=sys.stderr)
        return 1
    errors = [(stack.stack_name, message.entry.data) for stack in assembly.stacks for message in stack.messages
              if str(message.level).lower().endswith("error")]
    for stack_name, text in errors:
        print(f"{stack_name}: {text}", file=sys.stderr)
    if errors:
        print(f"triage-infra: {len(errors)} error(s) (cdk-nag findings without a justified suppression)",
              file=sys.stderr)
        return 1
    print(f"triage-infra: synthesized {', '.join(s.stack_name for s in assembly.stacks)} into {assembly.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
