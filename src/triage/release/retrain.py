"""`triage retrain`: a new labelled extract in (or the extracts already landed), a gated model version out.

Adds the extract under data/raw/incoming (tracked by DVC, never edited in place) — or, with no `--extract`, takes
what a batch intake already landed and committed there — runs `dvc repro`, checks the
quality gate, and only when it passes commits, registers the next GTO version and promotes it to `dev`. Promotion to
`prod` stays a human decision (`gto assign triage-model --version vX.Y.Z --stage prod`).
"""

from __future__ import annotations

import filecmp
import logging
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from triage import config
from triage.release.gate import check_gate, provenance_lines
from triage.tables import read_json
from triage_shared.artifacts import ARTIFACT

log = logging.getLogger("triage.retrain")


class RetrainError(RuntimeError):
    pass


@dataclass
class RetrainResult:
    gate_passed: bool
    gate_lines: list[str]
    version: str | None = None
    stage: str | None = None
    commit: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run(command: list[str], repo: Path, quiet: bool = False) -> str:
    """Run a tool in the repository; its output streams through unless `quiet`; a failure names the command."""
    result = subprocess.run(command, cwd=repo, text=True, capture_output=quiet)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:] if quiet else "see the output above"
        raise RetrainError(f"`{' '.join(command)}` failed (exit {result.returncode}): {detail}")
    return result.stdout or ""


def require_clean_tree(repo: Path) -> None:
    changed = run(["git", "status", "--porcelain", "--untracked-files=no"], repo, quiet=True).strip()
    if changed:
        raise RetrainError("the work tree has uncommitted changes to tracked files; commit or stash them first "
                           f"(retraining commits its own result):\n{changed}")


def require_key_for_real_data(extract: Path) -> None:
    """Refuse before anything is added: ingest would refuse a real extract without TRIAGE_PSEUDONYM_KEY."""
    from triage.data.extracts import ExtractError
    from triage.data.ingest import pseudonym_key
    from triage.data.simulated_marker import is_simulated

    try:
        pseudonym_key([] if is_simulated(extract) else [extract])
    except ExtractError as error:
        raise RetrainError(str(error)) from error


def add_extract(repo: Path, extract: Path, incoming: Path) -> Path:
    if not extract.is_file() or extract.suffix.lower() not in {".csv", ".parquet"}:
        raise RetrainError(f"{extract}: not a CSV or Parquet file")
    target = repo / incoming / extract.name
    if target.exists():
        if not filecmp.cmp(extract, target, shallow=False):
            raise RetrainError(f"{incoming / extract.name} already exists with other content: extracts are never "
                               "edited in place; give the new extract a new name")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(extract, target)
    run(["dvc", "add", str(incoming / extract.name)], repo, quiet=True)
    return target


def next_version(repo: Path) -> str:
    """The next minor version after the registry's (GTO's `name@vX.Y.Z` tags); v1.0.0 when none exists yet."""
    import re

    tags = run(["git", "tag", "--list", f"{ARTIFACT}@v*"], repo, quiet=True).split()
    pattern = re.compile(rf"{ARTIFACT}@v(\d+)\.(\d+)\.(\d+)")
    versions = [tuple(int(x) for x in m.groups()) for tag in tags if (m := pattern.fullmatch(tag))]
    if not versions:
        return "v1.0.0"
    major, minor, _ = max(versions)
    return f"v{major}.{minor + 1}.0"


def register_and_promote(repo: Path, stage: str, message: str) -> tuple[str, str]:
    version = next_version(repo)
    run(["gto", "register", ARTIFACT, "--version", version, "--message", message], repo, quiet=True)
    run(["gto", "assign", ARTIFACT, "--version", version, "--stage", stage], repo, quiet=True)
    return version, run(["git", "rev-parse", "HEAD"], repo, quiet=True).strip()


def retrain(repo: Path, extract: Path | None, stage: str = "dev", push_remote: str | None = None) -> RetrainResult:
    if stage == "prod":
        raise RetrainError("retraining promotes to dev only; promotion to prod is a human decision")
    params = config.load_params(repo / "params.yaml")
    incoming = Path(params["data"]["incoming_dir"])
    seconds: dict[str, float] = {}
    require_clean_tree(repo)
    started = time.perf_counter()
    if extract is not None:
        require_key_for_real_data(extract)
        added = add_extract(repo, extract, incoming)
        log.info("extract added: %s (tracked by DVC)", added.relative_to(repo))
    reason = f"with {extract.name}" if extract is not None else "on the landed extracts"
    log.info("dvc repro ...")
    run(["dvc", "repro"], repo)
    seconds["repro"] = time.perf_counter() - started
    metrics = read_json(repo / config.METRICS)
    lines = [*provenance_lines(metrics, params, repo), *check_gate(metrics, params["gate"])]
    result = RetrainResult(gate_passed=all(line.passed for line in lines), gate_lines=[str(x) for x in lines],
                           seconds=seconds)
    if not result.gate_passed:
        return result
    run(["git", "add", "-u"], repo, quiet=True)
    run(["git", "add", str(incoming)], repo, quiet=True)
    run(["git", "commit", "-q", "--allow-empty", "-m", f"Retrain {reason}"], repo, quiet=True)
    if push_remote:
        log.info("dvc push -r %s ...", push_remote)
        run(["dvc", "push", "-r", push_remote], repo, quiet=True)
    result.version, result.commit = register_and_promote(repo, stage, f"retrained {reason}")
    result.stage = stage
    return result
