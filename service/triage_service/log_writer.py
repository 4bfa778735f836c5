"""The prediction log: one JSON line per prediction, appended with a single write() on an O_APPEND descriptor, so
concurrent lines never interleave and a crash can only cut the line being written, never an earlier one. Complete
lines are pushed to the bucket in segments by byte offset, so nothing written meanwhile is lost or sent twice."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from pathlib import Path

import orjson

from triage_shared.predlog import segment_key

log = logging.getLogger("triage.service")


class PredictionLog:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def append_many(self, records: list[dict]) -> None:
        data = b"".join(orjson.dumps(record) + b"\n" for record in records)
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def close(self) -> None:
        os.close(self.fd)


def log_identity(path: Path) -> str:
    """A random id created with the log file and kept beside it (predicciones_<env>.txt.id)."""
    marker = path.with_name(path.name + ".id")
    try:
        return marker.read_text().strip()
    except OSError:
        identity = secrets.token_hex(6)
        marker.write_text(identity)
        return identity


class LogPusher:
    """Uploads the complete lines written since the last push to s3://BUCKET/predictions/<env>/."""

    def __init__(self, path: Path, env: str, client, bucket: str):
        self.path, self.env, self.client, self.bucket = path, env, client, bucket
        self.offset_file = path.with_name(path.name + ".pushed")
        # host and log-file identity: a new task that reuses a hostname (a container IP) starts a new log at offset 0
        # and must not overwrite the segments an earlier task pushed; a restart on the same disk keeps its identity
        self.instance = f"{socket.gethostname()}-{log_identity(path)}"

    def _offset(self) -> int:
        try:
            return int(self.offset_file.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def push(self) -> int:
        """Push complete lines not yet pushed; returns the number of bytes sent."""
        start = self._offset()
        with open(self.path, "rb") as handle:
            handle.seek(start)
            chunk = handle.read()
        end = chunk.rfind(b"\n") + 1  # only complete lines; a line being written waits for the next push
        if end == 0:
            return 0
        key = segment_key(self.env, self.path.stem, self.instance, start)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=chunk[:end], ContentType="application/x-ndjson")
        temporary = self.offset_file.with_suffix(".tmp")
        temporary.write_text(str(start + end))
        os.replace(temporary, self.offset_file)
        return end
