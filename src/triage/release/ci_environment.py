"""Which environment a GitHub ref deploys to: the branch → environment mapping and the registry's tag grammar."""

from __future__ import annotations

import re

from triage_shared.artifacts import ARTIFACT
from triage_shared.bucket import ENVIRONMENTS

BRANCH_ENVIRONMENTS = {"develop": "dev", "main": "prod"}
# GTO's tag grammar for this artifact: registration name@vX.Y.Z, assignment name#<env>#N (N the assignment count;
# GTO calls the environments its stages).
REGISTRATION = re.compile(rf"^{ARTIFACT}@v\d+\.\d+\.\d+$")
ASSIGNMENT = re.compile(rf"^{ARTIFACT}#(dev|prod)#\d+$")


class RefError(ValueError):
    pass


def environment_for_ref(ref: str, manual: str = "") -> str:
    """develop → dev, main → prod; `triage-model#<env>#N` → that environment; a new registration
    `triage-model@vX.Y.Z` → dev (a registered version goes to dev first); a manual run → the environment chosen."""
    if manual:
        if manual not in ENVIRONMENTS:
            raise RefError(f"the environment must be one of {', '.join(ENVIRONMENTS)}, got {manual!r}")
        return manual
    if ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
        if branch not in BRANCH_ENVIRONMENTS:
            raise RefError(f"branch {branch!r} deploys nowhere (only {', '.join(BRANCH_ENVIRONMENTS)})")
        return BRANCH_ENVIRONMENTS[branch]
    if ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        if match := ASSIGNMENT.match(tag):
            return match.group(1)
        if REGISTRATION.match(tag):
            return "dev"
        raise RefError(f"tag {tag!r} is not a registry tag ({ARTIFACT}@vX.Y.Z or {ARTIFACT}#<env>#N)")
    raise RefError(f"unsupported ref {ref!r}")

