"""Real uvicorn servers of the service, on free loopback ports, serving a model built by a small pipeline run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from triage.tooling.s3server import free_port

from ..conftest import REPO

API_KEY = "test-api-key-0123456789"
METRICS_TOKEN = "test-metrics-token-0123456789"
SERVICE_PATH = os.pathsep.join([str(REPO / "service"), str(REPO / "src")])
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("CI") != "true",
                                    reason="Debian's chromium and chromium-driver are not installed (.ci/run "
                                           "installs them)")


def headless_chromium(profile_dir: Path):
    """Debian's Chromium through Selenium, with the flags this closed network needs."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=DriverService(str(CHROMEDRIVER)))


class Server:
    def __init__(self, env: dict[str, str], workdir: Path, python: str = sys.executable,
                 pythonpath: str = SERVICE_PATH, open_files: int | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")},
                    "TRIAGE_API_KEYS": API_KEY, "TRIAGE_METRICS_TOKEN": METRICS_TOKEN, "TRIAGE_PORT": str(self.port),
                    "TRIAGE_LOG_DIR": str(workdir),
                    "PYTHONPATH": pythonpath, **env}
        self.python = python
        self.open_files = open_files  # the server's RLIMIT_NOFILE, as a small container would have it
        self.process: subprocess.Popen | None = None

    def start(self, wait_ready: bool = True) -> Server:
        self.output = open(self.workdir / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen([self.python, "-m", "triage_service"], env=self.env, cwd=self.workdir,
                                        stdout=self.output, stderr=subprocess.STDOUT, preexec_fn=self._limits)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_text()
            try:
                status = httpx.get(self.url + ("/readyz" if wait_ready else "/healthz"), timeout=1).status_code
                if status == 200 or (not wait_ready and status):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not become ready:\n{self.log_text()}")

    def _limits(self) -> None:
        if self.open_files is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def log_text(self) -> str:
        return (self.workdir / f"server-{self.port}.log").read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode if self.process else 0

    @property
    def log_file(self) -> Path:
        return self.workdir / f"predicciones_{self.env.get('TRIAGE_ENV', 'dev')}.txt"

    def client(self, key: str | None = API_KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key} if key else {}, timeout=30)


def workspace_model(workspace: Path, directory: Path) -> Path:
    """A workspace's exported model as the service reads it (model.onnx and manifest.json in one folder)."""
    shutil.copy(workspace / "models/triage.onnx", directory / "model.onnx")
    shutil.copy(workspace / "models/manifest.json", directory / "manifest.json")
    return directory


@contextmanager
def serving(workspace: Path, tmp_path_factory, name: str) -> Iterator[Server]:
    """The real service on a workspace's model, stopped after."""
    model = workspace_model(workspace, tmp_path_factory.mktemp(f"{name}-model"))
    instance = Server({"TRIAGE_MODEL_DIR": str(model)}, tmp_path_factory.mktemp(f"{name}-service")).start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def model_dir(pipeline_workspace, tmp_path_factory) -> Path:
    return workspace_model(pipeline_workspace, tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def test_records(pipeline_workspace) -> list[dict]:
    """Real test-part visits as API requests (the schema's fields; missing values left out)."""
    import json

    import pandas as pd

    manifest = json.loads((pipeline_workspace / "models/manifest.json").read_text())
    names = [f["name"] for f in manifest["features"]]
    frame = pd.read_parquet(pipeline_workspace / "data/processed/test.parquet").head(400)
    records = []
    for row in frame[names].to_dict(orient="records"):
        record = {}
        for key, value in row.items():
            if value is None or (isinstance(value, float) and value != value):
                continue
            record[key] = value if key == "sex" else (int(value) if float(value).is_integer() and key not in (
                "temperature_c",) else float(value))
        records.append(record)
    return records


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    instance = Server({"TRIAGE_MODEL_DIR": str(model_dir), "TRIAGE_MAX_BATCH": "50"},
                      tmp_path_factory.mktemp("service")).start()
    yield instance
    instance.stop()
