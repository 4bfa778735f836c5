"""Accepted extracts into the working clone: `data/raw/incoming/<site>/<name>`, tracked per site with `dvc add`
(`data/raw/incoming/<site>.dvc`), one git commit per run, `dvc push` to the intake's remote.

Why one `.dvc` per site folder and not per file: `data/raw/.gitignore` lets git see `.dvc` pointers directly under
`data/raw/incoming/` only, and DVC refuses to write a pointer git would ignore. A site's folder grows by new files;
an extract is never overwritten (a second version of the same name lands as `<stem>.<etag>.<suffix>`).

The commit message carries one `Intake-Labelled-Rows: N` trailer: the retraining decision adds them up over the
commits since the last registered model (`git log <model tag>..HEAD`).
"""

from __future__ import annotations

import filecmp
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from triage.intake import IntakeError
from triage.intake.bucket import IntakeBucket
from triage.intake.layout import ExtractObject, versioned_name
from triage.intake.tools import IntakeSettings, Tools

log = logging.getLogger("triage.intake")
ROWS_TRAILER = "Intake-Labelled-Rows"
EXTRACT_TRAILER = "Intake-Extract"


@dataclass(frozen=True)
class Landed:
    extract: ExtractObject
    path: str  # relative to the clone
    dvc_file: str
    rows_labelled: int


@dataclass
class LandingResult:
    commit: str | None  # the commit holding the landed extracts' pointers (None: nothing to land)
    landed: list[Landed]
    pushed_to: str | None


def place(clone: Path, incoming: Path, extract: ExtractObject, downloaded: Path) -> Path:
    """Where the extract goes in the clone (relative path); copies it unless the same bytes are there already."""
    for name in (extract.name, versioned_name(extract.name, extract.etag)):
        target = incoming / extract.site / name
        absolute = clone / target
        if absolute.exists():
            if filecmp.cmp(downloaded, absolute, shallow=False):
                return target  # landed before (an interrupted run): nothing to copy
            continue
        absolute.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(downloaded, absolute)
        return target
    raise IntakeError(f"{extract.uid}: both {incoming / extract.site / extract.name} and its versioned name exist "
                      "with other content in the working clone (rule: extracts are never overwritten)")


def commit_message(landed: list[Landed], bucket: str) -> str:
    rows = sum(item.rows_labelled for item in landed)
    sites = sorted({item.extract.site for item in landed})
    lines = [f"Intake: {len(landed)} extract(s) from {', '.join(sites)} ({rows} labelled rows)", ""]
    lines += [f"{item.extract.uri(bucket)} -> {item.path}: {item.rows_labelled} labelled rows" for item in landed]
    lines += ["", *(f"{EXTRACT_TRAILER}: {item.extract.uri(bucket)}@{item.extract.etag}" for item in landed),
              f"{ROWS_TRAILER}: {rows}"]
    return "\n".join(lines) + "\n"


def land(tools: Tools, bucket: IntakeBucket, settings: IntakeSettings, items: list[tuple[ExtractObject, dict]],
         workdir: Path) -> LandingResult:
    """Copy, `dvc add` per site, commit the pointers, `dvc push` them. Safe to repeat after an interruption."""
    if not items:
        return LandingResult(None, [], None)
    clone, incoming, remote = tools.clone, settings.incoming_dir, settings.dvc_remote
    sites = sorted({extract.site for extract, _ in items})
    dvc_files = [str(incoming / f"{site}.dvc") for site in sites]
    existing = [name for name in dvc_files if (clone / name).exists()]
    if existing:  # a site folder must be complete before it is re-added, or dvc add would drop its older files
        tools.run(["dvc", "pull", "-q", "-r", remote, *existing])
    landed = []
    for extract, accounting in items:
        downloaded = bucket.download(extract.key, extract.etag, workdir / extract.etag / Path(extract.name).name)
        target = place(clone, incoming, extract, downloaded)
        landed.append(Landed(extract, str(target), str(incoming / f"{extract.site}.dvc"),
                             int(accounting.get("rows_labelled", 0))))
        log.info("landing %s -> %s", extract.uri(bucket.bucket), target)
    tools.run(["dvc", "add", "-q", *(str(incoming / site) for site in sites)])
    paths = [*dvc_files, *([str(incoming / ".gitignore")] if (clone / incoming / ".gitignore").exists() else [])]
    tools.run(["git", "add", "--", *paths])
    staged = tools.run(["git", "diff", "--cached", "--name-only", "--", *paths]).split()
    if staged:
        tools.run(["git", "commit", "-q", "-m", commit_message(landed, bucket.bucket), "--", *paths])
    else:
        log.info("the working clone already holds these extracts (an earlier run landed them): nothing to commit")
    tools.run(["dvc", "push", "-q", "-r", remote, *dvc_files])
    commit = tools.run(["git", "rev-parse", "HEAD"]).strip()
    log.info("landed %d extract(s) in %s, commit %s, pushed to DVC remote %r", len(landed), clone, commit[:12],
             remote)
    return LandingResult(commit, landed, remote)
