"""The service's parts in process, on a small real ONNX model: the request contract, the decision rule, the
micro-batching inference thread, the guard middleware, and the whole app through Starlette's test client."""

from __future__ import annotations

import asyncio
import json
import math
import random

import httpx
import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient
from triage_service.app import create_app
from triage_service.batcher import InferenceBatcher
from triage_service.errors import InvalidRequest
from triage_service.metrics import ServiceMetrics
from triage_service.middleware import GuardMiddleware
from triage_service.model import load_local
from triage_service.request_schema import RequestSchema
from triage_service.settings import Settings

from triage_shared.decision import decide, needs_review

from .conftest import FEATURES, ORPHAN_THRESHOLD

KEY = "unit-test-key-0123456789"
PATIENT = {"age_years": 7, "sex": "M", "temperature_c": 36.9, "sx_seizures": 1}


# --- the request contract ------------------------------------------------------------------------------------------
def errors_of(records) -> list[dict]:
    with pytest.raises(InvalidRequest) as caught:
        RequestSchema(FEATURES).matrix(records, prefix_rows=True)
    return caught.value.errors


def test_a_valid_record_becomes_the_model_input_row():
    row = RequestSchema(FEATURES).matrix([PATIENT, {"age_years": 40, "sex": "U"}], prefix_rows=True)
    assert row.dtype == np.float32 and row.shape == (2, 4)
    assert row[0].tolist() == [7.0, 1.0, pytest.approx(36.9), 1.0]
    assert math.isnan(row[1][1]) and math.isnan(row[1][2]) and math.isnan(row[1][3])  # U and absent: missing


@pytest.mark.parametrize(("record", "field", "rule"), [
    ({**PATIENT, "age_years": 500}, "[0].age_years", "between 0 and 120"),
    ({**PATIENT, "age_years": 4.5}, "[0].age_years", "a whole number"),
    ({**PATIENT, "sex": "female"}, "[0].sex", "one of F, M, U"),
    ({**PATIENT, "temperature_c": "38"}, "[0].temperature_c", "a number"),
    ({**PATIENT, "nombre": "Ana"}, "[0].nombre", "unknown field"),
    ({"sex": "F"}, "[0].age_years", "required"),
    ("not an object", "[0]", "must be a JSON object"),
])
def test_each_broken_field_is_named_with_its_rule(record, field, rule):
    errors = errors_of([record])
    assert any(e["field"] == field and rule in e["rule"] for e in errors), errors


def test_the_json_schema_matches_the_contract():
    schema = RequestSchema(FEATURES).json_schema()
    assert schema["required"] == ["age_years", "sex"] and schema["additionalProperties"] is False
    assert schema["properties"]["sex"]["enum"] == ["F", "M", "U"]
    assert schema["properties"]["temperature_c"]["anyOf"][0]["maximum"] == 45


# --- the decision rule ---------------------------------------------------------------------------------------------
def test_orphan_at_its_threshold_then_the_most_probable_other_class():
    p = np.array([[0.6, 0.25, 0.15], [0.5, 0.3, 0.2], [0.3, 0.6, 0.1]])
    assert decide(p, ORPHAN_THRESHOLD, 2).tolist() == [0, 2, 1]
    assert decide(p, 0.5, 2).tolist() == [0, 0, 1]
    assert decide(p[:, :2], None, None).tolist() == [0, 0, 1]  # no orphan class: the most probable
    assert needs_review(p, 0.7).tolist() == [True, True, True] and not needs_review(np.eye(3), 0.7).any()


# --- the inference thread ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(small_model_dir):
    return load_local(small_model_dir, "dev")


def test_concurrent_requests_are_scored_together_and_each_gets_its_own_row(model):
    rows = np.random.default_rng(1).uniform([0, 0, 35, 0], [90, 1, 40, 1], size=(64, 4)).round().astype(np.float32)
    expected = model.probabilities(rows)

    async def main():
        batcher = InferenceBatcher()
        try:
            answers = await asyncio.gather(*(batcher.probabilities(model, rows[i:i + 1]) for i in range(len(rows))))
        finally:
            batcher.close()
        return answers, batcher.calls

    answers, calls = asyncio.run(main())
    assert np.allclose(np.vstack(answers), expected, atol=1e-6)
    assert calls < len(rows)  # micro-batched


def test_an_inference_error_reaches_every_waiting_request(model):
    class Broken:
        def probabilities(self, matrix):
            raise RuntimeError("graph failed")

    async def main():
        batcher = InferenceBatcher()
        try:
            return await asyncio.gather(*(batcher.probabilities(Broken(), np.zeros((1, 4), np.float32))
                                          for _ in range(5)), return_exceptions=True)
        finally:
            batcher.close()

    outcomes = asyncio.run(main())
    assert all(isinstance(o, RuntimeError) for o in outcomes)


# --- the guard middleware ------------------------------------------------------------------------------------------
def guarded(max_inflight: int, timeout_s: float, sleep_s: float):
    async def slow_app(scope, receive, send):
        await asyncio.sleep(sleep_s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    from prometheus_client import CollectorRegistry

    return GuardMiddleware(slow_app, known_paths=frozenset({"/v1/stats", "/v1/model", "/readyz"}),
                           exempt_from_shedding=frozenset({"/readyz"}), metrics=ServiceMetrics(CollectorRegistry()),
                           max_inflight=max_inflight, timeout_s=timeout_s, max_body_bytes=1 << 20, body_timeout_s=5.0,
                           max_header_bytes=8192)


def test_a_request_over_its_time_limit_gets_504():
    async def main():
        transport = httpx.ASGITransport(app=guarded(8, 0.05, 1.0))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/v1/stats")

    response = asyncio.run(main())
    assert response.status_code == 504 and "TRIAGE_REQUEST_TIMEOUT_S" in response.text


def test_requests_over_the_in_flight_limit_are_shed_with_503_but_health_checks_pass():
    async def main():
        transport = httpx.ASGITransport(app=guarded(1, 5.0, 0.2))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(client.get("/v1/stats"), client.get("/v1/model"), client.get("/readyz"))

    first, second, health = asyncio.run(main())
    assert first.status_code == 200 and second.status_code == 503 and second.headers["retry-after"] == "1"
    assert health.status_code == 200


# --- the app in process --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(small_model_dir, tmp_path_factory):
    settings = Settings.from_env({"TRIAGE_API_KEYS": KEY, "TRIAGE_MODEL_DIR": str(small_model_dir),
                                  "TRIAGE_LOG_DIR": str(tmp_path_factory.mktemp("log")), "TRIAGE_MAX_BATCH": "3",
                                  "TRIAGE_LOG_PUSH_INTERVAL_S": "0"})
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as test_client:
        yield test_client


def test_the_app_answers_with_the_manifests_classes_and_the_decision(client):
    body = client.post("/v1/predict", json=PATIENT).json()
    assert set(body["probabilities"]) == {"none", "acute", "orphan"}
    assert body["orphan"]["threshold"] == ORPHAN_THRESHOLD
    assert body["orphan"]["compatible"] == (body["probabilities"]["orphan"] >= ORPHAN_THRESHOLD)
    assert body["specialist_review"] == (max(body["probabilities"].values()) < 0.7)


@pytest.mark.parametrize(("call", "status"), [
    (lambda c: c.post("/v1/predict", json=PATIENT, headers={"X-API-Key": ""}), 401),
    (lambda c: c.post("/v1/predict", json=PATIENT, headers={"X-API-Key": "wrong-key-0123456789"}), 403),
    (lambda c: c.post("/v1/predict", content=b"{not json", headers={"Content-Type": "application/json"}), 422),
    (lambda c: c.post("/v1/predict", content=b'{"age_years": 7}', headers={"Content-Type": "text/plain"}), 415),
    (lambda c: c.post("/v1/predict", data={"age_years": "7"}), 415),
    (lambda c: c.post("/v1/predict/batch", json={"patients": [], "visit_ids": ["0" * 65]}), 422),
    (lambda c: c.post("/v1/predict/batch", json={"patients": [PATIENT] * 4}), 413),
    (lambda c: c.post("/v1/predict/batch", json={"people": []}), 422),
    (lambda c: c.get("/v1/stats", headers={"X-API-Key": ""}), 401),
    (lambda c: c.get("/v1/no-such-endpoint"), 404),
    (lambda c: c.get("/v1/predict"), 405),
    (lambda c: c.delete("/healthz"), 405),
    (lambda c: c.get("/healthz", headers={"X-Padding": "x" * 100_000}), 431),
])
def test_one_error_handler_answers_each_refusal_with_its_status_as_problem_details(client, call, status):
    response = call(client)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"] and body["detail"]


def test_the_routers_own_refusals_name_the_path_and_the_allowed_method(client):
    missing, wrong_method = client.get("/v1/no-such-endpoint"), client.get("/v1/predict")
    assert missing.json()["detail"] == "no endpoint at /v1/no-such-endpoint"
    assert wrong_method.headers["allow"] == "POST" and "allowed: POST" in wrong_method.json()["detail"]


def test_headers_just_within_the_limit_pass(client):
    assert client.get("/healthz", headers={"X-Padding": "x" * 7000}).status_code == 200


def test_a_whole_number_written_as_30_0_counts_as_an_integer_as_json_schema_says(client):
    """JSON Schema's "integer" (2020-12, OpenAPI 3.1's) is any number without a fractional part: 30.0 passes where
    the contract declares an integer, 30.5 does not."""
    integer = next(feature["name"] for feature in FEATURES if feature["type"] == "int")
    assert client.post("/v1/predict", json={**PATIENT, integer: 3.0}).status_code == 200
    refused = client.post("/v1/predict", json={**PATIENT, integer: 3.5})
    assert refused.status_code == 422 and refused.json()["errors"][0] == {"field": integer, "rule": "a whole number",
                                                                          "value": 3.5}


def test_the_openapi_document_offers_visit_ids_only_where_the_server_can_take_them(client, small_model_dir,
                                                                                   tmp_path):
    from triage_service.routes import ENDPOINTS

    without_key = client.get("/openapi.json").json()
    assert "parameters" not in without_key["paths"]["/v1/predict"]["post"]
    assert "visit_ids" not in without_key["components"]["schemas"]["Batch"]["properties"]
    assert set(without_key["paths"]) == {endpoint.path for endpoint in ENDPOINTS}  # every route, and only those
    settings = Settings.from_env({"TRIAGE_API_KEYS": KEY, "TRIAGE_MODEL_DIR": str(small_model_dir),
                                  "TRIAGE_LOG_DIR": str(tmp_path), "TRIAGE_LOG_PUSH_INTERVAL_S": "0",
                                  "TRIAGE_PSEUDONYM_KEY": "unit-test-pseudonym-key-0123"})
    with TestClient(create_app(settings)) as keyed:
        with_key = keyed.get("/openapi.json").json()
    assert with_key["paths"]["/v1/predict"]["post"]["parameters"][0]["name"] == "X-Visit-Id"
    assert "visit_ids" in with_key["components"]["schemas"]["Batch"]["properties"]


def test_a_key_written_twice_is_refused_naming_it(client):
    body = b'{"age_years": 500, "sex": "F", "age_years": 30}'
    response = client.post("/v1/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "age_years"
    assert "once" in response.json()["errors"][0]["rule"]


@pytest.mark.parametrize("text", [
    '{"a": 1, "b": {"c": [1, {"d": null}]}}',
    '{"a\\":": ":x", "b" :\n 1, "c\\\\": "\\"\\\\", "\\u0022e": ["f:", {"g": "\\"h\\":"}]}',
    '[{"a": 1}, "b:", {"c": {}}, {}, []]',
    json.dumps({"patients": [{"sex": "F", "age_years": 3}] * 3}, indent=4),
])
def test_keys_in_the_text_are_counted_exactly(text):
    """The duplicate-key check compares the keys written in the text with the keys the parser kept."""
    from triage_service.routes import key_count, keys_written

    assert keys_written(text.encode()) == key_count(json.loads(text))


def random_json_text(rng: random.Random, depth: int = 0) -> str:
    """Valid JSON with random whitespace, strings made of the characters that could fool a count (quotes, colons,
    backslashes, spaces), and now and then a key written twice in one object."""
    space = lambda: rng.choice(["", "", " ", "\n  ", "\t"])  # noqa: E731

    def string() -> str:
        return json.dumps("".join(rng.choice(['a', ':', ' ', '"', '\\', 'é', '":', ' :']) for _ in range(
            rng.randint(0, 4))), ensure_ascii=rng.random() < 0.5)

    kind = rng.random() if depth < 4 else 1.0
    if kind < 0.35:
        keys = [string() for _ in range(rng.randint(0, 4))]
        if keys and rng.random() < 0.3:
            keys.insert(rng.randint(0, len(keys)), rng.choice(keys))
        return "{" + ",".join(f"{space()}{key}{space()}:{space()}{random_json_text(rng, depth + 1)}{space()}"
                              for key in keys) + "}"
    if kind < 0.6:
        return "[" + ",".join(space() + random_json_text(rng, depth + 1) + space()
                              for _ in range(rng.randint(0, 3))) + "]"
    return rng.choice([string(), string(), "1", "-2.5e3", "true", "null"])


def written_twice(text: str) -> bool:
    """The truth, from the standard parser's view of every object's pairs."""
    objects: list[bool] = []
    json.loads(text, object_pairs_hook=lambda items: objects.append(len({k for k, _ in items}) < len(items)))
    return any(objects)


def test_repeated_keys_are_found_exactly_in_random_json():
    from triage_service.routes import has_repeated_key

    rng, repeated_seen = random.Random(7), 0
    for _ in range(4000):
        text = random_json_text(rng)
        body, truth = text.encode(), written_twice(text)
        assert has_repeated_key(body, orjson.loads(body)) == truth, text
        repeated_seen += truth
    assert 400 < repeated_seen < 3600  # both outcomes well represented


@pytest.mark.parametrize("depth", [1, 300, 1000])
def test_repeated_keys_are_found_at_any_depth_the_parser_accepts(client, depth):
    body = "[" * depth + '{"a": 1, "a": 2}' + "]" * depth
    response = client.post("/v1/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["errors"][0]["rule"] == "each key once per object"


def test_a_key_written_twice_deep_in_a_batch_is_refused(client):
    patients = json.dumps({"patients": [PATIENT, PATIENT]})
    body = patients[:-3] + ', "sex": "M"}]}'  # the second patient's sex written twice
    assert json.loads(body)["patients"][1]["sex"] == "M"
    response = client.post("/v1/predict/batch", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "sex"


def test_true_is_not_an_integer(client):
    response = client.post("/v1/predict", json={**PATIENT, "sx_seizures": True})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "sx_seizures"


def test_many_problems_get_a_short_answer_with_their_count(client):
    patient = {**PATIENT, **{f"unknown_{i}": 1 for i in range(5000)}}
    response = client.post("/v1/predict", json=patient)
    body = response.json()
    assert response.status_code == 422 and body["error_count"] == 5000 and len(body["errors"]) == 20
    assert len(response.content) < 5000


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(small_model_dir, tmp_path):
    settings = Settings.from_env({"TRIAGE_API_KEYS": KEY, "TRIAGE_MODEL_DIR": str(small_model_dir),
                                  "TRIAGE_LOG_DIR": str(tmp_path), "TRIAGE_MAX_BODY_BYTES": "2048",
                                  "TRIAGE_LOG_PUSH_INTERVAL_S": "0"})
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as limited:
        response = limited.post("/v1/predict/batch", json={"patients": [PATIENT] * 40})
    assert response.status_code == 413 and response.json()["limit"] == 2048
    assert "TRIAGE_MAX_BODY_BYTES" in response.json()["detail"] and response.headers["connection"] == "close"


def test_the_openapi_document_carries_the_models_request_schema(client):
    document = client.get("/openapi.json").json()
    assert set(document["components"]["schemas"]["Patient"]["properties"]) == {f["name"] for f in FEATURES}
    assert {"401", "403", "408", "413", "415", "422", "503", "504"} <= set(
        document["paths"]["/v1/predict/batch"]["post"]["responses"])
    assert {"401", "403"} <= set(document["paths"]["/v1/stats"]["get"]["responses"])
    assert {"401", "403", "409"} <= set(document["paths"]["/admin/reload"]["post"]["responses"])
    assert document["components"]["schemas"]["Prediction"]["properties"]["triage_class"]["enum"] == [
        "none", "acute", "orphan"]


def test_metrics_are_off_without_a_token_and_need_it_with_one(client, small_model_dir, tmp_path):
    assert client.get("/metrics").status_code == 404
    settings = Settings.from_env({"TRIAGE_API_KEYS": KEY, "TRIAGE_MODEL_DIR": str(small_model_dir),
                                  "TRIAGE_LOG_DIR": str(tmp_path), "TRIAGE_METRICS_TOKEN": "scrape-token-0123456789",
                                  "TRIAGE_LOG_PUSH_INTERVAL_S": "0"})
    with TestClient(create_app(settings)) as scraped:
        assert scraped.get("/metrics", headers={"X-API-Key": KEY}).status_code == 401  # an API key is not enough
        response = scraped.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert response.status_code == 200 and "triage_http_requests" in response.text
    assert json.loads(client.get("/readyz").text)["status"] == "ready"
