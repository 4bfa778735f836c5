"""The slim serving install: the service package (service/pyproject.toml) alone, in a fresh venv, as the image
installs it — nothing of the training stack, and it serves."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from ..conftest import REPO
from .conftest import Server

pytestmark = pytest.mark.slow
HEAVY = {"catboost", "scikit-learn", "pandas", "dvc", "pyarrow", "skl2onnx", "imbalanced-learn", "scipy", "pandera"}


def test_the_service_package_depends_on_nothing_heavy_and_pins_everything():
    project = tomllib.loads((REPO / "service/pyproject.toml").read_text())["project"]
    names = {re.split(r"[=<>\[]", requirement)[0].lower() for requirement in project["dependencies"]}
    assert not HEAVY & names
    assert all("==" in requirement for requirement in project["dependencies"])


def test_dockerfile_is_slim_non_root_with_healthcheck_and_passes_hadolint():
    text = (REPO / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM python:3\.11-slim", text, re.MULTILINE)) == 2  # multi-stage
    assert re.search(r"^USER 10001$", text, re.MULTILINE) and "HEALTHCHECK" in text
    copies = re.findall(r"^COPY (?!--from)(\S+)", text, re.MULTILINE)
    assert copies == ["service/", "src/triage_shared/"]  # the service and what it shares with training, no more
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fresh_venv_with_the_service_package_serves_predictions(model_dir, tmp_path, test_records):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin/pip"), "install", "--quiet", str(REPO / "service")],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    installed = subprocess.run([str(venv / "bin/pip"), "list", "--format=freeze"], capture_output=True, text=True,
                               check=True).stdout.lower()
    assert not {name for name in HEAVY if f"\n{name}==" in "\n" + installed}
    assert "\ntriage==" not in "\n" + installed  # the training package is not a dependency
    server = Server({"TRIAGE_MODEL_DIR": str(model_dir)}, tmp_path, python=str(venv / "bin/python"),
                    pythonpath="").start()  # only what the package installed
    try:
        with server.client() as client:
            assert client.post("/v1/predict", json=test_records[0]).status_code == 200
            assert client.post("/v1/predict/batch", json={"patients": test_records[:20]}).status_code == 200
        assert httpx.get(server.url + "/").status_code == 200
    finally:
        server.stop()
    size_mb = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file()) / 2**20
    print(f"slim serving venv: {size_mb:.0f} MB")
    assert size_mb < 400  # the training venv is about 1.5 GB
