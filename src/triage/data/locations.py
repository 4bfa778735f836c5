"""Where extracts live: a local path, or a folder of an S3-compatible object store (`s3://bucket/prefix`).

`data.raw_dir` may name either. Objects are read as streams with pyarrow's S3 filesystem (random access for Parquet),
so an extract in the bucket is never copied to disk first, and a Spark task reads it where it runs. The endpoint
comes from TRIAGE_S3_ENDPOINT (the project's convention, `triage s3 env`) or AWS_ENDPOINT_URL, which DVC also reads
for the ingest stage's dependency on the extracts (an external dependency: dvc.lock records each object's checksum,
so a changed extract re-runs ingest); credentials from the standard AWS variables.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import urlparse

from pyarrow import fs as pafs

Location = Path | str  # a local path, or an s3:// URI (kept as text: a Path would fold its "//")
SCHEME = "s3://"


def location(value: str | Path) -> Location:
    """A params value or a task's argument as a location."""
    return str(value) if str(value).startswith(SCHEME) else Path(value)


def is_remote(where: Location) -> bool:
    return isinstance(where, str) and where.startswith(SCHEME)


def endpoint() -> str | None:
    return os.environ.get("TRIAGE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or None


STORE_VARIABLES = ("TRIAGE_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                   "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION")


def object_store_settings() -> dict[str, str]:
    """The variables the object store is reached with, as this process has them (handed to Spark's tasks)."""
    return {name: os.environ[name] for name in STORE_VARIABLES if os.environ.get(name)}


@cache
def object_store(endpoint_url: str | None) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem for an endpoint (AWS itself when None); credentials from the environment."""
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    if endpoint_url is None:
        return pafs.S3FileSystem(region=region)
    parsed = urlparse(endpoint_url)
    return pafs.S3FileSystem(endpoint_override=parsed.netloc, scheme=parsed.scheme or "https", region=region)


def object_path(uri: str) -> str:
    """s3://bucket/key -> bucket/key (pyarrow's way of naming an object)."""
    return uri[len(SCHEME):].rstrip("/")


def list_objects(uri: str, suffixes: set[str]) -> list[str]:
    """The objects under a prefix with one of `suffixes`, not hidden (`_` or `.` first), as sorted URIs."""
    selector = pafs.FileSelector(object_path(uri), recursive=True, allow_not_found=True)
    infos = object_store(endpoint()).get_file_info(selector)
    return sorted(SCHEME + info.path for info in infos if info.type == pafs.FileType.File
                  and PurePosixPath(info.path).suffix.lower() in suffixes
                  and not PurePosixPath(info.path).name.startswith(("_", ".")))


def open_binary(where: Location) -> IO[bytes]:
    """A seekable binary stream of a local file or an object."""
    if is_remote(where):
        return object_store(endpoint()).open_input_file(object_path(str(where)))
    return open(where, "rb")


def suffix(where: Location) -> str:
    return PurePosixPath(str(where)).suffix.lower()
