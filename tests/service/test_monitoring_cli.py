"""Visit ids, the prediction log and `triage monitor` together: real server, real log, real CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from triage_shared.pseudonym import DEVELOPMENT_KEY

from ..conftest import REPO, run
from .conftest import Server

pytestmark = pytest.mark.slow


def draw(workspace: Path, tmp_path: Path, name: str, reference: bool, seed: int, visits: int = 1200) -> tuple:
    extract, requests = tmp_path / f"{name}.csv", tmp_path / f"{name}.json"
    run(["triage", "simulate-shift", "--visits", str(visits), "--seed", str(seed), "--extract", str(extract),
         "--requests", str(requests), *(["--reference"] if reference else [])], workspace)
    return extract, json.loads(requests.read_text())


def send(server: Server, body: dict) -> None:
    with server.client() as client:
        for start in range(0, len(body["patients"]), 400):
            response = client.post("/v1/predict/batch", json={"patients": body["patients"][start:start + 400],
                                                              "visit_ids": body["visit_ids"][start:start + 400]})
            assert response.status_code == 200, response.text[:500]


@pytest.fixture()
def keyed_server(model_dir, tmp_path):
    server = Server({"TRIAGE_MODEL_DIR": str(model_dir), "TRIAGE_MAX_BATCH": "400",
                     "TRIAGE_PSEUDONYM_KEY": DEVELOPMENT_KEY}, tmp_path).start()
    yield server
    server.stop()


def test_visit_ids_are_logged_only_as_keyed_hashes(keyed_server, server, test_records):
    with keyed_server.client() as client:
        response = client.post("/v1/predict", json=test_records[0], headers={"X-Visit-Id": "V-2026-000123"})
        assert response.status_code == 200
        mismatch = client.post("/v1/predict/batch", json={"patients": test_records[:2], "visit_ids": ["A"]})
        assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "visit_ids"
    text = keyed_server.log_file.read_text()
    expected = hmac.new(DEVELOPMENT_KEY.encode(), b"V-2026-000123", hashlib.sha256).hexdigest()[:24]
    assert json.loads(text.splitlines()[-1])["visit_ref"] == expected
    assert "V-2026-000123" not in text
    with server.client() as client:  # a server without a pseudonymisation key refuses visit ids
        refused = client.post("/v1/predict", json=test_records[0], headers={"X-Visit-Id": "V1"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "X-Visit-Id" and "TRIAGE_PSEUDONYM_KEY" in refused.text


def monitor(server: Server, workspace: Path, tmp_path: Path, labels: Path, window: int) -> tuple[int, dict]:
    out = tmp_path / "report"
    result = run(["triage", "monitor", "--env", "dev", "--log", str(server.log_file.parent), "--profile",
                  str(workspace / "models/reference_profile.json"), "--labels", str(labels), "--window",
                  str(window), "--out", str(out)], REPO, env={"TRIAGE_PSEUDONYM_KEY": DEVELOPMENT_KEY}, check=False)
    assert result.returncode in (0, 3), result.stderr
    return result.returncode, json.loads((out / "drift_report.json").read_text())


def test_monitor_reads_the_service_log_and_exits_3_on_drift(keyed_server, pipeline_workspace, tmp_path):
    extract, body = draw(pipeline_workspace, tmp_path, "shifted", reference=False, seed=3)
    send(keyed_server, body)
    code, report = monitor(keyed_server, pipeline_workspace, tmp_path, extract, len(body["patients"]))
    assert code == 3 and report["drift_detected"] and report["reasons"]
    assert report["window"]["rows"] == len(body["patients"]) and report["unreadable_lines"] == 0
    assert report["labelled"]["rows"] == len(body["patients"])  # every visit joined through its keyed hash


def test_monitor_exits_0_on_the_training_distribution(keyed_server, pipeline_workspace, tmp_path):
    extract, body = draw(pipeline_workspace, tmp_path, "fresh", reference=True, seed=4)
    send(keyed_server, body)
    with keyed_server.log_file.open("ab") as handle:
        handle.write(b'{"request_id": "cut by a cra')  # a crash mid-line: counted, not fatal
    code, report = monitor(keyed_server, pipeline_workspace, tmp_path, extract, len(body["patients"]))
    assert code == 0 and not report["drift_detected"] and report["reasons"] == []
    assert report["unreadable_lines"] == 1


def test_monitor_without_a_log_cannot_judge(pipeline_workspace, tmp_path):
    result = run(["triage", "monitor", "--env", "prod", "--log", str(tmp_path / "nothing.txt"), "--profile",
                  str(pipeline_workspace / "models/reference_profile.json")], REPO, check=False)
    assert result.returncode == 2 and "no prediction log" in result.stderr

