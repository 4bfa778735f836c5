"""The slim serving install: service/requirements.txt alone, in a fresh venv, laid out as the image copies it."""

from __future__ import annotations

import re
import shutil
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


def requirement_pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_service_requirements_match_the_serve_extra():
    requirements = requirement_pins((REPO / "service/requirements.txt").read_text().splitlines())
    extra = requirement_pins(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "serve"])
    assert requirements == extra
    assert not HEAVY & set(requirements)


def test_dockerfile_is_slim_non_root_with_healthcheck_and_passes_hadolint():
    text = (REPO / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM python:3\.11-slim", text, re.MULTILINE)) == 2  # multi-stage
    assert re.search(r"^USER 10001$", text, re.MULTILINE) and "HEALTHCHECK" in text
    copies = re.findall(r"^COPY (?!--from)(\S+)", text, re.MULTILINE)
    assert copies == ["service/requirements.txt", "service/triage_service", "src/triage_store"]
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fresh_venv_from_service_requirements_serves_predictions(model_dir, tmp_path, test_records):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    requirements = str(REPO / "service/requirements.txt")
    install = subprocess.run([str(venv / "bin/pip"), "install", "--quiet", "-r", requirements],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    installed = subprocess.run([str(venv / "bin/pip"), "list", "--format=freeze"], capture_output=True, text=True,
                               check=True).stdout.lower()
    assert not {name for name in HEAVY if f"\n{name}==" in "\n" + installed}
    app = tmp_path / "app"  # exactly what the image copies
    shutil.copytree(REPO / "service/triage_service", app / "triage_service")
    shutil.copytree(REPO / "src/triage_store", app / "triage_store")
    server = Server({"TRIAGE_MODEL_DIR": str(model_dir)}, tmp_path, python=str(venv / "bin/python"),
                    pythonpath=str(app)).start()
    try:
        with server.client() as client:
            assert client.post("/v1/predict", json=test_records[0]).status_code == 200
            assert client.post("/v1/predict/batch", json={"patients": test_records[:20]}).status_code == 200
        assert httpx.get(server.url + "/").status_code == 200
    finally:
        server.stop()
    size_mb = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file()) / 2**20
    print(f"slim serving venv: {size_mb:.0f} MB")
    (tmp_path / "venv-size.txt").write_text(f"{size_mb:.0f}\n")
    assert size_mb < 400  # the training venv is about 1.5 GB
