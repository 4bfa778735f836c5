"""The job specification: what one heavy stage's job reads, runs and writes.

Everything comes from the stage's own entry in dvc.yaml (resolved by DVC itself, `${...}` included): the inputs are
its data dependencies in the repository (params.yaml and the contract among them), the outputs are its outs,
metrics and plots. Code dependencies (src/, tools/) are not inputs: the job runs the code of this working tree,
shipped as one archive (`store.code_archive`). Dependencies outside the repository (extracts under s3://) are read
by the job where they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from triage.cloud.store import BOOTSTRAP, SPEC, run_key
from triage.errors import UserError

CODE_ROOTS = ("src/", "tools/")


@dataclass(frozen=True)
class JobSpec:
    stage: str
    run_id: str
    target: str  # spark | training
    jobs_uri: str  # the jobs prefix: s3://bucket/jobs/ (or a local folder for the stand-in)
    code: str  # key of the code archive under the jobs prefix
    inputs: dict[str, str]  # path in the repository -> sha256 of its content (a content-addressed object)
    outputs: list[str]  # paths in the repository the stage writes (files or folders)
    timeout_minutes: float
    resources: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # non-secret settings the stage reads
    secrets: dict[str, str] = field(default_factory=dict)  # variable -> Secrets Manager id, resolved in the job

    @property
    def spec_uri(self) -> str:
        return f"{self.jobs_uri.rstrip('/')}/{run_key(self.run_id, SPEC)}"

    @property
    def bootstrap_uri(self) -> str:
        return f"{self.jobs_uri.rstrip('/')}/{run_key(self.run_id, BOOTSTRAP)}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class StageFiles:
    inputs: list[Path]  # files (folders expanded), repository-relative
    outputs: list[str]


def is_code(path: str) -> bool:
    return path.startswith(CODE_ROOTS)


def stage_files(stage: str, root: Path = Path(".")) -> StageFiles:
    """The stage's data inputs (files, folders expanded) and its outputs, as DVC resolves them from dvc.yaml."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        resolved = repo.stage.collect(f"{(root / 'dvc.yaml').resolve()}:{stage}")[0]  # not relative to the cwd
        deps = [dep.def_path for dep in resolved.deps if dep.is_in_repo and not is_code(dep.def_path)]
        outputs = [out.def_path for out in resolved.outs]
    files: list[Path] = []
    for dep in deps:
        path = root / dep
        if path.is_dir():
            files += sorted(p.relative_to(root) for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.append(Path(dep))
        else:
            raise UserError(f"{stage}: its dependency {dep} does not exist (run the stages before it first: dvc repro)")
    return StageFiles(inputs=files, outputs=outputs)
