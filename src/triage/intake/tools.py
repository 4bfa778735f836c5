"""The working clone and the command-line tools run in it (git, dvc, triage): environment and error messages.

The tools come from the project's own install (`make setup`: dvc, gto, triage), not from the Airflow virtualenv:
`tools_bin` (the DAG's `tools_bin` param, `$TRIAGE_TOOLS_BIN`) is put first on PATH, so `dvc repro` also runs its
stages with that install's `python`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from triage.intake import IntakeError

log = logging.getLogger("triage.intake")
DEFAULT_IDENTITY = {"GIT_AUTHOR_NAME": "triage intake", "GIT_AUTHOR_EMAIL": "triage-intake@localhost",
                    "GIT_COMMITTER_NAME": "triage intake", "GIT_COMMITTER_EMAIL": "triage-intake@localhost"}


@dataclass(frozen=True)
class IntakeSettings:
    """The working clone's params.yaml: the `intake:` section and what the intake shares with the pipeline."""

    contract: Path  # data.contract, relative to the clone
    incoming_dir: Path  # data.incoming_dir
    max_bad_fraction: float  # validate.max_bad_fraction
    model_name: str  # the model artifact declared in dvc.yaml `artifacts:` (GTO's name and tags)
    retrain_min_new_rows: int
    retrain_on_drift: bool
    drift_env: str
    dvc_remote: str


def load_settings(clone: Path) -> IntakeSettings:
    path = clone / "params.yaml"
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise IntakeError(f"{path}: cannot read the working clone's params ({error.strerror}); is `working_clone` "
                          "a checkout of the project?") from None
    try:
        intake = params["intake"]
        settings = IntakeSettings(
            contract=Path(params["data"]["contract"]), incoming_dir=Path(params["data"]["incoming_dir"]),
            max_bad_fraction=float(params["validate"]["max_bad_fraction"]),
            model_name=model_artifact(clone),
            retrain_min_new_rows=int(intake["retrain_min_new_rows"]),
            retrain_on_drift=bool(intake["retrain_on_drift"]), drift_env=str(intake["drift_env"]),
            dvc_remote=str(intake["dvc_remote"]))
    except KeyError as error:
        raise IntakeError(f"{path}: {error.args[0]!r} is missing (rule: the intake needs data.contract, "
                          "data.incoming_dir, validate.max_bad_fraction and the intake: section)"
                          ) from None
    except (TypeError, ValueError) as error:
        raise IntakeError(f"{path}: intake settings: {error}") from None
    if settings.retrain_min_new_rows < 1:
        raise IntakeError(f"{path}: intake.retrain_min_new_rows must be at least 1, got "
                          f"{settings.retrain_min_new_rows}")
    if settings.drift_env not in ("dev", "prod"):
        raise IntakeError(f"{path}: intake.drift_env must be dev or prod, got {settings.drift_env!r}")
    return settings


def model_artifact(clone: Path) -> str:
    """The one artifact of type model that dvc.yaml declares (`artifacts:`): the name GTO registers versions of."""
    path = clone / "dvc.yaml"
    try:
        artifacts = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("artifacts") or {}
    except OSError as error:
        raise IntakeError(f"{path}: cannot read ({error.strerror})") from None
    models = [name for name, spec in artifacts.items() if (spec or {}).get("type") == "model"]
    if len(models) != 1:
        raise IntakeError(f"{path}: expected one artifact of type model under `artifacts:`, found {models}")
    return models[0]


@dataclass(frozen=True)
class Tools:
    """Runs git, dvc and triage in the working clone."""

    clone: Path
    bin_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.bin_dir is not None:
            env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
            env.pop("VIRTUAL_ENV", None)  # the Airflow venv's, if any: the tools are the project's
        env.update(self.extra_env)
        return env

    def run(self, command: list[str], quiet: bool = True, timeout: float | None = 1800) -> str:
        """Run a tool in the clone; a failure names the command, the clone and the output's tail."""
        try:
            result = subprocess.run(command, cwd=self.clone, env=self.environment(), text=True,
                                    capture_output=True, timeout=timeout)
        except FileNotFoundError:
            raise IntakeError(f"`{command[0]}` not found (tools_bin={self.bin_dir}): point the DAG's tools_bin "
                              "(or $TRIAGE_TOOLS_BIN) at the bin/ of the project's install (make setup)") from None
        except subprocess.TimeoutExpired:
            raise IntakeError(f"`{' '.join(command)}` in {self.clone} did not finish in {timeout:.0f} s") from None
        if result.returncode != 0:
            detail = (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise IntakeError(f"`{' '.join(command)}` in {self.clone} failed (exit {result.returncode}): {detail}")
        if not quiet and result.stdout.strip():
            log.info("%s", result.stdout.strip())
        return result.stdout

    def with_identity(self) -> Tools:
        """A git identity for the intake's commits and tags when the clone and the environment have none."""
        configured = subprocess.run(["git", "config", "user.email"], cwd=self.clone, env=self.environment(),
                                    capture_output=True, text=True).stdout.strip()
        if configured or os.environ.get("GIT_AUTHOR_EMAIL"):
            return self
        return Tools(self.clone, self.bin_dir, {**DEFAULT_IDENTITY, **self.extra_env})


def require_clone(clone: Path) -> None:
    if not (clone / ".git").exists() or not (clone / ".dvc").is_dir():
        raise IntakeError(f"working clone {clone} is not a git + DVC checkout of the project (set the DAG's "
                          "working_clone param or $TRIAGE_INTAKE_CLONE)")
