"""The service with its real neighbours: the model bucket (SeaweedFS), a headless Chromium, and schemathesis."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from triage.release.registry import model_card
from triage.tooling.s3server import LocalS3, free_port
from triage_shared.store import ModelStore, S3Location

from .conftest import API_KEY, METRICS_TOKEN, Server, headless_chromium, needs_chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bucket(tmp_path_factory, model_dir):
    s3 = LocalS3(tmp_path_factory.mktemp("s3"), port=free_port(), bucket="triage")
    s3.start()
    with pytest.MonkeyPatch.context() as patch:  # the AWS_* variables for this module only
        for name, value in s3.environment().items():
            if name.startswith("AWS_"):
                patch.setenv(name, value)
        store = ModelStore(S3Location(s3.bucket, s3.endpoint, "us-east-1").client(), s3.bucket)
        manifest = json.loads((model_dir / "manifest.json").read_text())
        manifest["registry"] = {"version": "v1.2.3", "stage": "dev"}
        store.publish("dev", (model_dir / "model.onnx").read_bytes(), manifest, model_card(manifest))
        yield s3, store
    s3.stop()


def test_model_from_the_bucket_and_log_pushed_without_loss(bucket, tmp_path, test_records):
    s3, store = bucket
    server = Server({**s3.environment(), "TRIAGE_LOG_PUSH_INTERVAL_S": "0.5"}, tmp_path).start()
    try:
        assert httpx.get(server.url + "/readyz").json()["model"]["version"] == "v1.2.3"
        with server.client() as client:
            for record in test_records[:40]:
                assert client.post("/v1/predict", json=record).status_code == 200
            time.sleep(1.5)  # at least one periodic push happens while the service keeps writing
            for record in test_records[40:60]:
                assert client.post("/v1/predict", json=record).status_code == 200
    finally:
        server.stop()  # SIGTERM: graceful shutdown, the final push runs in the lifespan's exit
    assert "Application shutdown complete" in server.log_text()
    listed = store.client.list_objects_v2(Bucket=s3.bucket, Prefix="predictions/dev/")["Contents"]
    assert len(listed) >= 2
    pushed = b"".join(store.client.get_object(Bucket=s3.bucket, Key=o["Key"])["Body"].read()
                      for o in sorted(listed, key=lambda o: o["Key"]))
    assert pushed == server.log_file.read_bytes()
    assert len({json.loads(line)["request_id"] for line in pushed.splitlines()}) == 60


@needs_chromium
def test_clinician_form_in_headless_chromium(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver = headless_chromium(tmp_path / "profile")
    try:
        driver.get(server.url + "/")
        wait = WebDriverWait(driver, 15)
        wait.until(ready.presence_of_element_located((By.NAME, "sx_seizures")))
        assert "Convulsiones" in driver.page_source and "Temperatura" in driver.page_source
        driver.find_element(By.ID, "clave").send_keys(API_KEY)
        for name, value in (("age_years", "4"), ("symptom_days", "500"), ("comorbidity_count", "0")):
            driver.find_element(By.NAME, name).send_keys(value)
        for symptom in ("sx_seizures", "sx_hypotonia", "sx_developmental_delay", "sx_microcephaly"):
            driver.find_element(By.NAME, symptom).click()
        driver.find_element(By.ID, "enviar").click()
        verdict = wait.until(ready.presence_of_element_located((By.ID, "clase"))).text
        assert verdict == "COMPATIBLE CON ENFERMEDAD HUÉRFANA"
        assert len(driver.find_elements(By.CSS_SELECTOR, ".barra")) == 5
        driver.save_screenshot(str(tmp_path / "form.png"))
        # an ambiguous adult visit gets the specialist-review warning
        driver.get(server.url + "/")
        wait.until(ready.presence_of_element_located((By.NAME, "sx_fatigue")))
        driver.find_element(By.ID, "clave").send_keys(API_KEY)
        for name, value in (("age_years", "45"), ("symptom_days", "20"), ("comorbidity_count", "1")):
            driver.find_element(By.NAME, name).send_keys(value)
        for symptom in ("sx_fatigue", "sx_headache"):
            driver.find_element(By.NAME, symptom).click()
        driver.find_element(By.ID, "enviar").click()
        wait.until(ready.presence_of_element_located((By.ID, "clase")))
        assert driver.find_element(By.ID, "revision").text == "Revisión por especialista"
        # a wrong key is reported, not swallowed
        driver.find_element(By.ID, "clave").clear()
        driver.find_element(By.ID, "clave").send_keys("wrong-key")
        driver.find_element(By.ID, "enviar").click()
        assert "403" in wait.until(ready.presence_of_element_located((By.ID, "error"))).text
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def keyed_server(model_dir, tmp_path_factory):
    """A server that accepts visit ids (it has a pseudonymisation key), so the visit header reaches scoring."""
    instance = Server({"TRIAGE_MODEL_DIR": str(model_dir), "TRIAGE_MAX_BATCH": "50",
                       "TRIAGE_PSEUDONYM_KEY": "schemathesis-pseudonym-key"}, tmp_path_factory.mktemp("keyed")).start()
    yield instance
    instance.stop()


def schemathesis(server: Server, workdir: Path, *headers: str) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).parent / "schemathesis"
    if not binary.exists():
        binary = Path(shutil.which("schemathesis") or "schemathesis")
    # the API key for the API, the scraper's token for /metrics (each endpoint ignores the other's header)
    credentials = (f"X-API-Key: {API_KEY}", f"Authorization: Bearer {METRICS_TOKEN}")
    header_options = [option for header in (*credentials, *headers) for option in ("-H", header)]
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(binary), "--config-file", str(Path(__file__).parent / "schemathesis.toml"), "run",
         server.url + "/openapi.json", *header_options, "--max-examples", "40", "--generation-deterministic",
         "--workers", "2", "--report-dir", str(workdir)],
        capture_output=True, text=True, timeout=600, cwd=workdir)


def test_schemathesis_finds_no_mismatch_with_every_default_check(keyed_server, tmp_path):
    """Every default check, response conformance included (status codes, content types, headers, bodies against
    the document), once with the visit header generated and once with it pinned so most cases reach scoring."""
    for run, headers in (("generated", ()), ("pinned", ("X-Visit-Id: V-2026-000123",))):
        logged_before = keyed_server.log_file.read_bytes().count(b"\n") if keyed_server.log_file.exists() else 0
        result = schemathesis(keyed_server, tmp_path / run, *headers)
        assert result.returncode == 0, result.stdout[-4000:]
        document = httpx.get(keyed_server.url + "/openapi.json").json()
        operations = sum(len(methods) for methods in document["paths"].values())
        summary = result.stdout[-3000:]
        assert f"Tested: {operations}" in result.stdout and "No issues found" in result.stdout, summary  # every one
        generated = int(re.search(r"(\d+) generated", result.stdout).group(1))
        scored = keyed_server.log_file.read_bytes().count(b"\n") - logged_before
        print(f"schemathesis ({run} visit header): {generated} cases, {scored} rows scored")
        assert generated > 500 and scored > 100  # the predict operations were fuzzed and reached the model
