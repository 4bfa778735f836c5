"""Which environment a GitHub ref deploys to: the branch → environment mapping and the registry's tag grammar."""

from __future__ import annotations

import re

from triage_shared.artifacts import ARTIFACT

BRANCH_STAGES = {"develop": "dev", "main": "prod"}
# GTO's tag grammar for this artifact: registration name@vX.Y.Z, assignment name#stage#N (N the assignment count).
REGISTRATION = re.compile(rf"^{ARTIFACT}@v\d+\.\d+\.\d+$")
ASSIGNMENT = re.compile(rf"^{ARTIFACT}#(dev|prod)#\d+$")


class StageError(ValueError):
    pass


def stage_for_ref(ref: str, manual: str = "") -> str:
    """develop → dev, main → prod; `triage-model#<stage>#N` → that stage; a new registration `triage-model@vX.Y.Z`
    → dev (a registered version goes to dev first); a manual run → the stage chosen."""
    if manual:
        if manual not in ("dev", "prod"):
            raise StageError(f"stage must be dev or prod, got {manual!r}")
        return manual
    if ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
        if branch not in BRANCH_STAGES:
            raise StageError(f"branch {branch!r} deploys nowhere (only {', '.join(BRANCH_STAGES)})")
        return BRANCH_STAGES[branch]
    if ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        if match := ASSIGNMENT.match(tag):
            return match.group(1)
        if REGISTRATION.match(tag):
            return "dev"
        raise StageError(f"tag {tag!r} is not a registry tag ({ARTIFACT}@vX.Y.Z or {ARTIFACT}#<stage>#N)")
    raise StageError(f"unsupported ref {ref!r}")

