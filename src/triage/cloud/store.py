"""The jobs prefix of the bucket (pyarrow's filesystems: s3:// on AWS or SeaweedFS, or a local folder).

    jobs/inputs/<sha256>                 every input once, by content: a re-run uploads only what changed
    jobs/code/<sha256>.zip               the working tree's packages (src/triage, src/triage_shared)
    jobs/runs/<run>/job.json             the specification
    jobs/runs/<run>/run_job.py           the bootstrap (EMR Serverless's entry point)
    jobs/runs/<run>/logs/job.log         the job's log, rewritten as it grows
    jobs/runs/<run>/outputs/<path>       the stage's outputs ...
    jobs/runs/<run>/outputs/manifest.json  ... and, written last, their sizes and sha256: no manifest, no outputs

The manifest is the commit point: a job that dies while uploading leaves no manifest, and the submitter records
nothing (dvc.lock is written by DVC only after the stage's command succeeded, and that needs verified outputs).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pyarrow.fs as pafs

from triage.data.locations import endpoint, is_remote, object_path, object_store
from triage.tables import file_digest

MANIFEST = "manifest.json"
CODE_PACKAGES = ("triage", "triage_shared")
SPEC, BOOTSTRAP, LOG = "job.json", "run_job.py", "logs/job.log"
LOCAL = pafs.LocalFileSystem()


def run_key(run: str, name: str) -> str:
    """Where a run's file lives under the jobs prefix (the layout above)."""
    return f"runs/{run}/{name}"


def jobs_uri_of(spec_uri: str) -> str:
    return spec_uri.rsplit("/runs/", 1)[0]


def code_archive(source_root: Path) -> bytes:
    """The packages' Python files, in a fixed order with fixed timestamps: the same tree gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in CODE_PACKAGES:
            for path in sorted((source_root / package).rglob("*.py")):
                info = zipfile.ZipInfo(str(path.relative_to(source_root)), date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


class JobStore:
    """Reads and writes under one jobs URI."""

    def __init__(self, jobs_uri: str) -> None:
        self.uri = jobs_uri.rstrip("/")
        if is_remote(self.uri):
            self.fs: pafs.FileSystem = object_store(endpoint())
            self.base = object_path(self.uri)
        else:
            self.fs, self.base = LOCAL, str(Path(self.uri).resolve())

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}"

    def key_of(self, uri: str) -> str:
        return uri.removeprefix(f"{self.uri}/")

    def exists(self, key: str) -> bool:
        return self.fs.get_file_info(self._path(key)).type != pafs.FileType.NotFound

    def put_bytes(self, key: str, data: bytes) -> None:
        self.fs.create_dir(self._path(key).rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(self._path(key)) as out:
            out.write(data)

    def get_bytes(self, key: str) -> bytes:
        with self.fs.open_input_stream(self._path(key)) as stream:
            return stream.read()

    def put_file(self, key: str, path: Path) -> None:
        self.fs.create_dir(self._path(key).rsplit("/", 1)[0], recursive=True)
        pafs.copy_files(str(path), self._path(key), source_filesystem=LOCAL, destination_filesystem=self.fs)

    def get_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(self._path(key), str(path), source_filesystem=self.fs, destination_filesystem=LOCAL)

    # --- inputs: by content ---------------------------------------------------------------------------------------
    def put_inputs(self, files: list[Path], root: Path) -> dict[str, str]:
        """Upload the inputs not already there; the spec's map of path -> sha256."""
        inputs = {}
        for relative in files:
            digest = file_digest(root / relative)
            if not self.exists(f"inputs/{digest}"):
                self.put_file(f"inputs/{digest}", root / relative)
            inputs[relative.as_posix()] = digest
        return inputs

    def get_inputs(self, inputs: dict[str, str], root: Path) -> None:
        for relative, digest in inputs.items():
            self.get_file(f"inputs/{digest}", root / relative)
            if file_digest(root / relative) != digest:
                raise OSError(f"input {relative}: its content does not match the uploaded sha256 {digest}")

    def put_code(self, source_root: Path) -> str:
        archive = code_archive(source_root)
        key = f"code/{hashlib.sha256(archive).hexdigest()}.zip"
        if not self.exists(key):
            self.put_bytes(key, archive)
        return key

    # --- outputs: the manifest last -------------------------------------------------------------------------------
    def put_outputs(self, run: str, outputs: list[str], root: Path) -> dict[str, dict]:
        manifest: dict[str, dict] = {}
        for output in outputs:
            path = root / output
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                relative = file.relative_to(root).as_posix()
                self.put_file(run_key(run, f"outputs/{relative}"), file)
                manifest[relative] = {"size": file.stat().st_size, "sha256": file_digest(file)}
        self.put_bytes(run_key(run, f"outputs/{MANIFEST}"), json.dumps(manifest, indent=1, sort_keys=True).encode())
        return manifest

    def get_outputs(self, run: str, root: Path) -> dict[str, dict]:
        """Every output of the manifest into place, each checked against its sha256."""
        manifest = json.loads(self.get_bytes(run_key(run, f"outputs/{MANIFEST}")))
        for relative, entry in manifest.items():
            target = root / relative
            self.get_file(run_key(run, f"outputs/{relative}"), target)
            if file_digest(target) != entry["sha256"]:
                os.remove(target)
                raise OSError(f"output {relative}: sha256 differs from the job's manifest (transfer corrupted)")
        return manifest

    def has_outputs(self, run: str) -> bool:
        return self.exists(run_key(run, f"outputs/{MANIFEST}"))

    def log_since(self, run: str, offset: int) -> bytes:
        """The job's log from byte `offset` on (a ranged read: only what is new); b"" before it exists."""
        path = self._path(run_key(run, LOG))
        info = self.fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound or info.size <= offset:
            return b""
        with self.fs.open_input_file(path) as handle:
            handle.seek(offset)
            return handle.read()
