"""The service's HTTP behaviour against a real uvicorn server."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from .conftest import API_KEY, METRICS_TOKEN

pytestmark = pytest.mark.slow


def test_health_and_readiness_need_no_key(server):
    with server.client(key=None) as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["model"]["sha256"]
        assert client.get("/v1/model").json()["name"] == "triage-model"
        assert "Triaje clínico" in client.get("/").text
        assert client.get("/docs").status_code == 200


def test_openapi_publishes_the_models_request_contract(server):
    schema = httpx.get(server.url + "/openapi.json").json()
    patient = schema["components"]["schemas"]["Patient"]
    assert patient["additionalProperties"] is False
    assert {"age_years", "sex", "symptom_days", "comorbidity_count"} <= set(patient["required"])
    assert patient["properties"]["temperature_c"]["anyOf"][0]["maximum"] == 45


def test_prediction_carries_class_probabilities_decision_and_lineage(server, test_records):
    with server.client() as client:
        body = client.post("/v1/predict", json=test_records[0]).json()
    assert set(body["probabilities"]) == {"none", "mild", "acute", "chronic", "orphan"}
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-4
    assert body["label_es"] and len(body["request_id"]) == 32
    assert {"version", "stage", "git_revision", "training_data_md5", "contract"} <= set(body["model"])


def test_review_flag_and_orphan_threshold_follow_the_manifest(server, test_records, model_dir):
    manifest = json.loads((model_dir / "manifest.json").read_text())
    threshold, review = manifest["thresholds"]["orphan"], manifest["thresholds"]["review"]
    with server.client() as client:
        response = client.post("/v1/predict/batch", json={"patients": test_records[:50]})
    predictions = response.json()["predictions"]
    flags = set()
    for p in predictions:
        top = max(p["probabilities"].values())
        assert p["specialist_review"] == (top < review)
        assert p["message"] == ("Revisión por especialista" if top < review else None)
        orphan = p["probabilities"]["orphan"] >= threshold
        assert p["orphan"]["compatible"] == orphan == (p["triage_class"] == "orphan")
        flags.add(p["specialist_review"])
    assert flags == {True, False}  # the test visits include both kinds


def test_red_flags_make_the_service_answer_orphan(server):
    child = {"age_years": 4, "sex": "M", "symptom_days": 500, "comorbidity_count": 1, "sx_seizures": 1,
             "sx_hypotonia": 1, "sx_developmental_delay": 1, "sx_microcephaly": 1}
    with server.client() as client:
        body = client.post("/v1/predict", json=child).json()
    assert body["triage_class"] == "orphan" and body["label_es"] == "COMPATIBLE CON ENFERMEDAD HUÉRFANA"


@pytest.mark.parametrize(("payload", "field", "rule"), [
    ({"age_years": 200}, "age_years", "between 0 and 120"),
    ({"sex": "robot"}, "sex", "one of F, M, U"),  # "female" is a spelling the contract lists: accepted
    ({"temperature_c": "38"}, "temperature_c", "a number"),
    ({"sx_fever": 2}, "sx_fever", "0 or 1"),
    ({"heart_rate_bpm": 80.5}, "heart_rate_bpm", "a whole number"),
    ({"full_name": "Ana"}, "full_name", "unknown field"),
    ({"symptom_days": None}, "symptom_days", "required"),
])
def test_bad_input_gets_422_naming_field_rule_and_value(server, payload, field, rule):
    base = {"age_years": 30, "sex": "F", "symptom_days": 2, "comorbidity_count": 0}
    with server.client() as client:
        response = client.post("/v1/predict", json={**base, **payload})
    assert response.status_code == 422
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert rule in errors[field]["rule"] and errors[field]["value"] == payload[field]


def test_malformed_bodies_never_give_500(server):
    with server.client() as client:
        for body in (b"{", b"[]", b"null", b'"text"', b"1e999", b'{"age_years": NaN}'):
            assert client.post("/v1/predict", content=body,
                               headers={"Content-Type": "application/json"}).status_code == 422
        assert client.post("/v1/predict/batch", json=[1, 2]).status_code == 422
        errors = client.post("/v1/predict/batch", json={"patients": [{"age_years": 1}, "x"]}).json()["errors"]
        assert {"[0].sex", "[1]"} <= {e["field"] for e in errors}


def test_api_key_required_and_checked(server):
    assert httpx.post(server.url + "/v1/predict", json={}).status_code == 401
    assert httpx.post(server.url + "/v1/predict", json={}, headers={"X-API-Key": "wrong"}).status_code == 403
    assert httpx.get(server.url + "/v1/stats").status_code == 401
    assert httpx.get(server.url + "/v1/stats", headers={"X-API-Key": API_KEY + "x"}).status_code == 403


def test_batch_limit_is_named(server, test_records):
    with server.client() as client:
        response = client.post("/v1/predict/batch", json={"patients": test_records[:51]})
        assert response.status_code == 413 and "limit of 50" in response.json()["detail"]
        assert response.json()["limit"] == 50
        assert client.post("/v1/predict/batch", json={"patients": []}).json() == {"predictions": []}


def test_stats_and_metrics(server, test_records):
    with server.client() as client:
        client.post("/v1/predict", json=test_records[1])
        stats = client.get("/v1/stats").json()
        assert stats["total_predictions"] >= 1 and stats["recent"][0]["request_id"]
        assert set(stats["counts_per_class"]) == {"none", "mild", "acute", "chronic", "orphan"}
        assert client.get("/metrics").status_code == 401  # the API key is not the scrape token
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert 'triage_http_requests_total{endpoint="/v1/predict",status="200"}' in metrics
    assert "triage_predictions_total" in metrics and "triage_specialist_review_share" in metrics
    assert 'triage_model_info{name="triage-model"' in metrics
    assert 'triage_http_request_seconds_bucket{endpoint="/v1/predict"' in metrics


async def _fire(url: str, records: list[dict], concurrency: int) -> list[int]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY}, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(*(client.post("/v1/predict", json=r) for r in records),
                                         return_exceptions=True)
    return [r.status_code if isinstance(r, httpx.Response) else -1 for r in responses]


def test_log_lines_equal_successful_predictions_under_concurrency(server, test_records):
    before = server.log_file.read_bytes().count(b"\n")
    with server.client() as client:
        before_stats = client.get("/v1/stats").json()["total_predictions"]
    records = test_records[:300] + [{"age_years": -1}] * 30
    statuses = asyncio.run(_fire(server.url, records, concurrency=32))
    ok = statuses.count(200)
    assert ok == 300 and statuses.count(422) == 30
    lines = server.log_file.read_bytes().splitlines()[before:]
    assert len(lines) == ok
    parsed = [json.loads(line) for line in lines]
    assert len({p["request_id"] for p in parsed}) == ok
    assert all(set(p) >= {"request_id", "time", "env", "model_version", "input", "output", "latency_ms"}
               for p in parsed)
    assert not any("full_name" in p["input"] or "patient_id" in p["input"] for p in parsed)
    with server.client() as client:
        assert client.get("/v1/stats").json()["total_predictions"] == before_stats + ok


async def _post_all(url: str, records: list[dict], concurrency: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY}, limits=limits, timeout=30) as client:
        return await asyncio.gather(*(client.post("/v1/predict", json=r) for r in records))


def test_micro_batched_answers_belong_to_their_own_request(server, test_records, model_dir):
    """Concurrent requests share ONNX Runtime calls; each answer must still be its own row's, to the last digit."""
    from triage_service.model import load_local

    model = load_local(model_dir, "dev")
    records = test_records[:200]
    expected = [model.probabilities(model.contract.matrix([record], prefix_rows=False))[0] for record in records]
    with server.client() as client:
        before = client.get("/v1/stats").json()["inference"]
    responses = asyncio.run(_post_all(server.url, records, concurrency=32))
    with server.client() as client:
        after = client.get("/v1/stats").json()["inference"]
    for response, probabilities in zip(responses, expected, strict=True):
        served = response.json()["probabilities"]
        assert [served[c] for c in model.classes] == pytest.approx(probabilities.tolist(), abs=1e-6)
    rows, calls = after["rows"] - before["rows"], after["calls"] - before["calls"]
    assert rows == len(records) and calls < rows  # some requests were scored together
