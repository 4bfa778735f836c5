"""Where the heavy stages run: the compute profile and its targets.

params.yaml's `compute` section is read by no stage (dvc.yaml lists none of it), so switching the profile changes
neither a stage's hash nor dvc.lock: a cloud run leaves the same lock as a local one. $TRIAGE_COMPUTE overrides the
profile for one run (`TRIAGE_COMPUTE=aws dvc repro`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from triage.errors import UserError

PROFILE_VARIABLE = "TRIAGE_COMPUTE"
PROFILES = ("local", "aws", "standin")
TARGETS = ("spark", "training")


@dataclass(frozen=True)
class ComputeSettings:
    profile: str = "local"
    stages: dict[str, str] = field(default_factory=dict)  # stage -> target
    timeout_minutes: dict[str, float] = field(default_factory=dict)  # target -> minutes
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # target -> sizes
    poll_seconds: float = 15.0
    cloud_above_visits: int = 1_000_000

    def target(self, stage: str) -> str | None:
        """The target a stage is submitted to under this profile; None: it runs here."""
        return None if self.profile == "local" else self.stages.get(stage)


def compute_settings(params: dict[str, Any], environ: dict[str, str] | None = None) -> ComputeSettings:
    environ = os.environ if environ is None else environ
    section = params.get("compute") or {}
    profile = environ.get(PROFILE_VARIABLE) or section.get("profile", "local")
    if profile not in PROFILES:
        source = PROFILE_VARIABLE if environ.get(PROFILE_VARIABLE) else "compute.profile"
        raise UserError(f"{source}: {profile!r} is not a compute profile (one of {', '.join(PROFILES)})")
    stages = dict(section.get("stages") or {})
    for stage, target in stages.items():
        if target not in TARGETS:
            raise UserError(f"compute.stages.{stage}: {target!r} is not a target (one of {', '.join(TARGETS)})")
    return ComputeSettings(
        profile=profile, stages=stages,
        timeout_minutes={t: float((section.get(t) or {}).get("timeout_minutes", 120)) for t in TARGETS},
        resources={t: {k: v for k, v in (section.get(t) or {}).items() if k != "timeout_minutes"} for t in TARGETS},
        poll_seconds=float(section.get("poll_seconds", 15)),
        cloud_above_visits=int(section.get("cloud_above_visits", 1_000_000)))


def choose_profile(visits: int, settings: ComputeSettings) -> str:
    """`triage compute choose`: the cloud above the stated size, else this machine."""
    return "aws" if visits > settings.cloud_above_visits else "local"
