"""Start the serving package (`python -m triage_service` from service/) as a process on a free loopback port and
wait until it reports ready. Used by the loop demo and the serving benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from triage.tooling.s3server import free_port


class ServiceStartError(RuntimeError):
    pass


def start_service(repo: Path, env: dict[str, str], log_file: Path | None = None,
                  timeout_s: float = 60) -> tuple[subprocess.Popen, str]:
    """`env` adds to the current environment (TRIAGE_* settings); returns the process and its base URL."""
    port = free_port()
    full_env = {**os.environ, **env, "TRIAGE_PORT": str(port),
                "PYTHONPATH": os.pathsep.join([str(repo / "service"), str(repo / "src")])}
    output = open(log_file, "wb") if log_file else subprocess.DEVNULL  # noqa: SIM115 (lives as long as the process)
    process = subprocess.Popen([sys.executable, "-m", "triage_service"], env=full_env, stdout=output,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            shown = log_file.read_text(errors="replace")[-3000:] if log_file else ""
            raise ServiceStartError(f"the service exited with {process.returncode}\n{shown}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise ServiceStartError(f"the service did not become ready in {timeout_s:.0f} s")


def stop_service(process: subprocess.Popen, timeout_s: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
