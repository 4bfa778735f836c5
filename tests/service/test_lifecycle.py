"""Start, reload, overload, crash and configuration of the service process."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from .conftest import API_KEY, SERVICE_PATH, Server

pytestmark = pytest.mark.slow


def tampered_copy(model_dir, target):
    shutil.copytree(model_dir, target)
    model = bytearray((target / "model.onnx").read_bytes())
    model[len(model) // 2] ^= 0xFF
    (target / "model.onnx").write_bytes(bytes(model))
    return target


def test_tampered_model_is_refused_at_start(model_dir, tmp_path):
    bad = tampered_copy(model_dir, tmp_path / "bad-model")
    server = Server({"TRIAGE_MODEL_DIR": str(bad)}, tmp_path).start(wait_ready=False)
    try:
        ready = httpx.get(server.url + "/readyz")
        assert ready.status_code == 503 and "sha256" in ready.json()["detail"]
        predict = httpx.post(server.url + "/v1/predict", json={}, headers={"X-API-Key": API_KEY})
        assert predict.status_code == 503 and predict.headers["retry-after"]
    finally:
        server.stop()


def test_reload_swaps_models_and_refuses_a_bad_one(model_dir, tmp_path):
    live = tmp_path / "live-model"
    shutil.copytree(model_dir, live)
    server = Server({"TRIAGE_MODEL_DIR": str(live)}, tmp_path).start()
    try:
        with server.client() as client:
            first = client.get("/readyz").json()["model"]
            # a new, valid model (same graph, new manifest version) is swapped in by the admin endpoint
            manifest = json.loads((live / "manifest.json").read_text())
            manifest["version"] = "9.9.9"
            (live / "manifest.json").write_text(json.dumps(manifest))
            assert client.post("/admin/reload").json()["serving"]["version"] == "9.9.9"
            # a tampered model is refused and the old one keeps serving
            model = bytearray((live / "model.onnx").read_bytes())
            model[100] ^= 0xFF
            (live / "model.onnx").write_bytes(bytes(model))
            refused = client.post("/admin/reload")
            assert refused.status_code == 409 and "sha256" in refused.json()["reason"]
            assert client.get("/readyz").json()["model"]["version"] == "9.9.9"
            assert client.post("/v1/predict", json={"age_years": 30, "sex": "F", "symptom_days": 1,
                                                    "comorbidity_count": 0}).status_code == 200
            # SIGHUP reloads too
            shutil.copy(model_dir / "model.onnx", live / "model.onnx")
            shutil.copy(model_dir / "manifest.json", live / "manifest.json")
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while client.get("/readyz").json()["model"]["version"] != first["version"]:
                assert time.monotonic() < deadline, "SIGHUP did not reload the model"
                time.sleep(0.2)
    finally:
        server.stop()


def test_kill_during_load_leaves_a_valid_log(model_dir, tmp_path, test_records):
    """Four clients post continuously; the server is SIGKILLed once 300 predictions have succeeded."""
    server = Server({"TRIAGE_MODEL_DIR": str(model_dir)}, tmp_path).start()
    succeeded, failed, lock = [0], [0], threading.Lock()

    def client_loop(offset: int) -> None:
        with server.client() as client:
            for i in range(2000):  # bounded: the kill comes long before
                try:
                    response = client.post("/v1/predict", json=test_records[(offset + i) % len(test_records)],
                                           timeout=5)
                except httpx.TransportError:
                    with lock:
                        failed[0] += 1
                    return
                with lock:
                    succeeded[0] += response.status_code == 200
                    if succeeded[0] >= 300 and server.process.poll() is None:
                        server.process.kill()

    threads = [threading.Thread(target=client_loop, args=(k * 97,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    server.process.wait(timeout=10)
    assert succeeded[0] >= 300 and failed[0] > 0  # it really died under load
    lines = server.log_file.read_bytes().splitlines()
    assert len(lines) >= succeeded[0]
    for line in lines:
        json.loads(line)  # every line written before the kill is complete and valid


def test_overload_is_shed_with_503_and_retry_after(model_dir, tmp_path, test_records):
    server = Server({"TRIAGE_MODEL_DIR": str(model_dir), "TRIAGE_MAX_INFLIGHT": "2"}, tmp_path).start()
    try:
        async def burst():
            async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=30,
                                         limits=httpx.Limits(max_connections=64)) as client:
                return await asyncio.gather(*(client.post("/v1/predict/batch", json={"patients": test_records[:200]})
                                              for _ in range(64)))
        responses = asyncio.run(burst())
        codes = [r.status_code for r in responses]
        assert set(codes) <= {200, 503} and codes.count(503) > 0 and codes.count(200) > 0
        shed = next(r for r in responses if r.status_code == 503)
        assert shed.headers["retry-after"] == "1" and "overloaded" in shed.json()["detail"]
        assert httpx.get(server.url + "/healthz").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(("env", "message"), [
    ({"TRIAGE_ENV": "staging"}, "TRIAGE_ENV must be one of dev, prod, got 'staging'"),
    ({"TRIAGE_API_KEYS": ""}, "TRIAGE_API_KEYS must list at least one"),
    ({"TRIAGE_API_KEYS": "short"}, "at least 16 characters"),
    ({"TRIAGE_MAX_BATCH": "lots"}, "TRIAGE_MAX_BATCH must be an integer, got 'lots'"),
    ({"TRIAGE_MODEL_DIR": ""}, "set TRIAGE_MODEL_DIR"),
])
def test_configuration_errors_name_the_variable(model_dir, env, message):
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SERVICE_PATH, "TRIAGE_API_KEYS": API_KEY,
                   "TRIAGE_MODEL_DIR": str(model_dir), **env}
    result = subprocess.run([sys.executable, "-m", "triage_service"], env=environment, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr


def test_service_imports_no_training_code():
    """The service and the package it shares with training import nothing of the training stack."""
    import ast
    from pathlib import Path

    from ..conftest import REPO

    forbidden = {"triage", "pandas", "sklearn", "catboost", "dvc", "skl2onnx", "pandera", "imblearn", "scipy",
                 "pydantic_settings", "yaml"}
    for path in [*Path(REPO / "service/triage_service").rglob("*.py"), *Path(REPO / "src/triage_shared").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            assert not {n.split(".")[0] for n in names} & forbidden, f"{path} imports {names}"
