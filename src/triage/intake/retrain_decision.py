"""The retraining decision and the retrain itself.

Retrain when the labelled rows landed since the last registered model reach `intake.retrain_min_new_rows`, or when
the latest drift report of `intake.drift_env` (`triage monitor` writes monitoring/<env>/<time>/drift_report.json)
found drift after that model was registered and some new labelled rows have landed (without new rows a retrain
would refit the same data). Every decision records its reasons, triggered or not.

The retrain is the project's own command, `triage retrain --push <remote>` in the working clone (dvc repro, quality
gate; on pass: commit, dvc push, GTO register, assign to dev — never prod): exit 0 registered, 4 gate failed, 1 error.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime

from triage.errors import ExitCode
from triage.intake.bucket import IntakeBucket
from triage.intake.landing import ROWS_TRAILER
from triage.intake.tools import IntakeSettings, Tools
from triage_shared.bucket import monitoring_prefix

log = logging.getLogger("triage.intake")
REPORT_FILE = "drift_report.json"


@dataclass(frozen=True)
class ModelVersion:
    tag: str  # e.g. triage-model@v1.2.0
    commit: str
    registered_at: str  # ISO 8601 (the tag's date)


@dataclass(frozen=True)
class DriftVerdict:
    key: str
    drift_detected: bool
    created_at: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    triggered: bool
    reasons: tuple[str, ...]
    new_labelled_rows: int
    threshold: int
    last_model: str | None
    drift_report: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def last_model(tools: Tools, artifact: str) -> ModelVersion | None:
    """The highest `<artifact>@vX.Y.Z` GTO tag in the clone."""
    pattern = re.compile(rf"{re.escape(artifact)}@v(\d+)\.(\d+)\.(\d+)")
    tags = [(tuple(int(x) for x in match.groups()), tag)
            for tag in tools.run(["git", "tag", "--list", f"{artifact}@v*"]).split()
            if (match := pattern.fullmatch(tag))]
    if not tags:
        return None
    tag = max(tags)[1]
    commit = tools.run(["git", "rev-list", "-n", "1", tag]).strip()
    date = tools.run(["git", "for-each-ref", "--format=%(creatordate:iso-strict)", f"refs/tags/{tag}"]).strip()
    return ModelVersion(tag, commit, date)


def new_labelled_rows(tools: Tools, model: ModelVersion | None) -> int:
    """Labelled rows the intake landed in commits the last model was not trained on (all of them without a model)."""
    revision = f"{model.commit}..HEAD" if model else "HEAD"
    values = tools.run(["git", "log", f"--format=%(trailers:key={ROWS_TRAILER},valueonly,separator=%x2C)",
                        revision]).split()
    return sum(int(part) for value in values for part in value.split(",") if part.strip().isdigit())


def latest_drift(bucket: IntakeBucket, env: str) -> DriftVerdict | None:
    """The newest monitoring/<env>/<time>/drift_report.json (the time stamps sort as text)."""
    keys = sorted(item["Key"] for item in bucket.objects(monitoring_prefix(env)) if item["Key"].endswith(REPORT_FILE))
    if not keys:
        return None
    report = bucket.get_json(keys[-1]) or {}
    return DriftVerdict(keys[-1], bool(report.get("drift_detected")), str(report.get("created_at", "")),
                        tuple(str(reason) for reason in report.get("reasons", [])[:5]))


def _after(created_at: str, model: ModelVersion | None) -> bool:
    if model is None:
        return True
    try:
        return datetime.fromisoformat(created_at) > datetime.fromisoformat(model.registered_at)
    except ValueError:
        return True  # an unreadable time: do not hide the verdict


def decide(rows: int, settings: IntakeSettings, model: ModelVersion | None, drift: DriftVerdict | None,
           bucket: str) -> Decision:
    since = f"since {model.tag}" if model else "(no model registered yet)"
    threshold = settings.retrain_min_new_rows
    enough = rows >= threshold
    reasons = [f"{rows} new labelled rows {since} {'>=' if enough else '<'} intake.retrain_min_new_rows="
               f"{threshold}"]
    drift_trigger = False
    env = settings.drift_env
    if not settings.retrain_on_drift:
        reasons.append("drift does not trigger retraining (intake.retrain_on_drift: false)")
    elif drift is None:
        reasons.append(f"no drift report under s3://{bucket}/monitoring/{env}/")
    elif not drift.drift_detected:
        reasons.append(f"latest {env} drift report s3://{bucket}/{drift.key}: no drift")
    elif not _after(drift.created_at, model):
        reasons.append(f"latest {env} drift report s3://{bucket}/{drift.key} found drift on {drift.created_at}, "
                       f"before {model.tag if model else ''} was registered ({model.registered_at if model else ''})")
    elif rows == 0:
        reasons.append(f"latest {env} drift report s3://{bucket}/{drift.key} found drift, but no labelled rows have "
                       f"landed {since}: a retrain would refit the same data")
    else:
        drift_trigger = True
        found = "; ".join(drift.reasons[:2])
        reasons.append(f"latest {env} drift report s3://{bucket}/{drift.key} found drift ({drift.created_at}"
                       f"{': ' + found if found else ''})")
    return Decision(enough or drift_trigger, tuple(reasons), rows, threshold, model.tag if model else None,
                    drift.key if drift else None)


@dataclass(frozen=True)
class RetrainOutcome:
    exit_code: int
    registered: str | None  # the new version's tag (promoted to dev), None when nothing was registered
    seconds: float
    output_tail: str

    @property
    def verdict(self) -> str:
        if self.exit_code == ExitCode.OK:
            return f"registered {self.registered} and promoted it to dev"
        if self.exit_code == ExitCode.FAILED_CHECK:
            return "quality gate failed: nothing registered or promoted (the clone keeps the run for inspection)"
        return f"retrain failed (exit {self.exit_code})"

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def run_retrain(tools: Tools, settings: IntakeSettings, timeout: float = 4 * 3600) -> RetrainOutcome:
    """`triage retrain --push <remote>` in the clone, its output streamed to the log."""
    before = last_model(tools, settings.model_name)
    command = ["triage", "retrain", "--push", settings.dvc_remote]
    log.info("running `%s` in %s", " ".join(command), tools.clone)
    started = time.perf_counter()
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(command, cwd=tools.clone, env=tools.environment(), text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        for line in process.stdout:
            log.info("[retrain] %s", line.rstrip())
            tail.append(line.rstrip())
        code = process.wait(timeout=timeout)
    after = last_model(tools, settings.model_name)
    registered = after.tag if after and (before is None or after.tag != before.tag) else None
    return RetrainOutcome(code, registered if code == 0 else None, round(time.perf_counter() - started, 1),
                          "\n".join(tail))
