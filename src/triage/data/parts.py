"""A stage's Parquet output, wherever its rows are.

An output path (data/interim/clean.parquet, data/processed/train.parquet, ...) is one of three things:

- one Parquet file (the local executor's);
- a folder of parts, `part-00000.parquet`, ... (the Spark executor's, on a filesystem the whole cluster shares);
- a folder holding only `parts.json` (the Spark executor's with `data.executor.store`): the parts are objects of a
  store that every host of the cluster reaches (an `s3://bucket/prefix`, or a shared mount), each named by the
  sha256 of its bytes (`<store>/parts/<sha256>.parquet`). The manifest lists them in order, with their rows, sizes
  and digests. DVC versions the manifest; the rows stay in the store. A part is never overwritten (same bytes, same
  name), so an older manifest, checked out by git and `dvc pull`, still reads the rows it was written with.

Every reader of the pipeline's outputs goes through here, so a stage reads all three alike. A part the manifest
names but the store does not have, or has at another size, is refused by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from triage.data.locations import endpoint, is_remote, object_path, object_store
from triage.errors import UserError
from triage.tables import SCORING_BATCH_ROWS, Batches, file_digest

MANIFEST = "parts.json"
MANIFEST_FORMAT = "triage-parts/1"
PARTS_PREFIX = "parts"
CHUNK = 8 * 1024 * 1024

class MissingPart(UserError):
    """A manifest names a part its store does not have (or has at another size)."""


@dataclass(frozen=True)
class Part:
    """One Parquet file of an output: where it is, and how to open it."""

    filesystem: pafs.FileSystem
    path: str

    def open(self) -> pa.NativeFile:
        return self.filesystem.open_input_file(self.path)


def filesystem_of(where: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem and path of an object URI (s3://) or a local path."""
    if is_remote(where):
        return object_store(endpoint()), object_path(where)
    return pafs.LocalFileSystem(), str(Path(where).resolve())


# --- the store: parts by content ---------------------------------------------------------------------------------
def store_uri(store: str) -> str:
    """The store as written in params: an s3:// prefix, or a folder every host mounts (made absolute)."""
    return store.rstrip("/") if is_remote(store) else str(Path(store).resolve())


def put_object(local_file: Path, store: str, kind: str, suffix: str) -> tuple[str, int, str]:
    """Copy a local file into the store as `<store>/<kind>/<sha256><suffix>` (skipped when the store has it: the same
    bytes have the same name, so a retried task uploads nothing new); its URI, size and sha256. Written to a
    temporary name and moved, or as one S3 upload, so a reader never sees half a file."""
    digest = file_digest(local_file)
    uri = f"{store_uri(store)}/{kind}/{digest}{suffix}"
    filesystem, path = filesystem_of(uri)
    size = Path(local_file).stat().st_size
    if filesystem.get_file_info(path).size != size:
        filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        staged = path if is_remote(uri) else f"{path}.{os.getpid()}.partial"
        pafs.copy_files(str(local_file), staged, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=filesystem)
        if staged != path:
            os.replace(staged, path)
    return uri, size, digest


def put_part(local_file: Path, store: str, rows: int) -> dict:
    """A written Parquet part into the store; its manifest entry."""
    uri, size, digest = put_object(local_file, store, PARTS_PREFIX, ".parquet")
    return {"object": uri, "rows": rows, "bytes": size, "sha256": digest}


def put_table(table: pa.Table, store: str) -> dict:
    """A table (an empty output's schema) written as one part of the store."""
    with tempfile.TemporaryDirectory(prefix="triage-part-") as scratch:
        local = Path(scratch) / "part.parquet"
        pq.write_table(table, local)
        return put_part(local, store, table.num_rows)


def write_manifest(out: Path, store: str, parts: list[dict]) -> None:
    """`out` becomes a folder holding only the manifest of `parts` (in order); the same parts, the same bytes."""
    remove_output(out)
    out.mkdir(parents=True)
    manifest = {"format": MANIFEST_FORMAT, "store": store_uri(store), "rows": sum(part["rows"] for part in parts),
                "parts": parts}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def remove_output(out: Path) -> None:
    if out.is_dir():
        shutil.rmtree(out)
    out.unlink(missing_ok=True)


def read_manifest(output: Path) -> dict | None:
    """The manifest of an output kept in a store, or None for a file or a folder of parts."""
    manifest = Path(output) / MANIFEST
    return json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None


# --- reading ------------------------------------------------------------------------------------------------------
def parts_of(output: Path) -> list[Part]:
    """The Parquet files of an output, in row order; a store's parts checked for presence and size first."""
    output = Path(output)
    manifest = read_manifest(output)
    if manifest is None:
        if not output.exists():
            raise UserError(f"{output}: no such output (run the stage that writes it: dvc repro)")
        files = [output] if output.is_file() else sorted(output.rglob("*.parquet"))
        return [Part(pafs.LocalFileSystem(), str(file.resolve())) for file in files]
    parts = []
    for entry in manifest["parts"]:
        filesystem, path = filesystem_of(entry["object"])
        found = filesystem.get_file_info(path)
        if found.type == pafs.FileType.NotFound or found.size != entry["bytes"]:
            state = "does not exist" if found.type == pafs.FileType.NotFound else f"has {found.size} bytes"
            raise MissingPart(f"{output}/{MANIFEST}: part {entry['object']} {state} (expected {entry['bytes']} "
                              f"bytes); was the store emptied? re-run the stage: dvc repro -f -s <stage>")
        parts.append(Part(filesystem, path))
    return parts


def dataset(output: Path) -> ds.Dataset:
    """The output as one pyarrow dataset, its parts in row order."""
    parts = parts_of(output)
    filesystem = parts[0].filesystem if parts else pafs.LocalFileSystem()
    return ds.dataset([part.path for part in parts], format="parquet", filesystem=filesystem)


def read_frame(output: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return dataset(output).to_table(columns=columns).to_pandas()


def record_batches(output: Path, columns: list[str] | None, rows: int) -> Iterator[pa.RecordBatch]:
    """The row groups of an output's parts in order, one at a time (a dataset scanner reads ahead: its memory grew
    with the part)."""
    for part in parts_of(output):
        with part.open() as handle:
            yield from pq.ParquetFile(handle).iter_batches(batch_size=rows, columns=columns, use_threads=False)


def batches(output: Path, columns: list[str], rows: int = SCORING_BATCH_ROWS) -> Batches:
    """An output as frames of exactly `rows` rows (the last one shorter), whatever its parts and row groups: the
    same rows give the same batches on either executor's layout."""
    def read() -> Iterator[pd.DataFrame]:
        pending: list[pa.RecordBatch] = []
        for batch in record_batches(output, columns, rows):
            pending.append(batch)
            while sum(part.num_rows for part in pending) >= rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, rows).to_pandas()
                pending = table.slice(rows).to_batches()
        if pending:
            yield pa.Table.from_batches(pending).to_pandas()
    return read


def output_digest(output: Path) -> str:
    """md5 of an output: of the file, or of its folder's files in name order (a store's: its manifest, which names
    every part by its sha256)."""
    output = Path(output)
    files = [output] if output.is_file() else sorted(path for path in output.rglob("*") if path.is_file())
    digest = hashlib.md5()  # noqa: S324 - a fingerprint DVC also uses, not a security control
    for file in files:
        with open(file, "rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()
