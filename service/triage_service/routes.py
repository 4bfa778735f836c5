"""The HTTP handlers: each reads the request, calls the predictor, and returns a response; errors are raised
(`errors.ApiError`) and answered by the one handler in `errors`. The hot endpoints are plain Starlette routes:
FastAPI's dependency solving and request wrapper cost more per request than the model itself."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from .errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    json_response,
)
from .model import LoadedModel
from .predictor import VISIT_HEADER, Predictor

STATIC = Path(__file__).parent / "static"
ALIVE = b'{"status":"alive"}'
# a JSON string as the tokenizer sees it (the unrolled form: ~4x faster than a per-character alternation)
JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
JSON_WHITESPACE = b" \t\r\n"


def predictor_of(request: Request) -> Predictor:
    return request.app.state.predictor


async def json_body(request: Request):
    """The parsed JSON body: application/json only (415), valid JSON, and no key written twice in one object (a
    parser keeps the last silently: `{"age_years": 500, ..., "age_years": 30}` must not pass as 30)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (media_type.startswith("application/") and
                                                  media_type.endswith("+json")):
        raise UnsupportedMediaType(f"the body must be application/json, got {media_type or 'no Content-Type'}")
    body = await request.body()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest([{"field": "body", "rule": "valid JSON", "value": str(error)[:120]}]) from None
    if has_repeated_key(body, parsed):
        raise InvalidRequest([{"field": repeated_key(body), "rule": "each key once per object", "value": None}])
    return parsed


def has_repeated_key(body: bytes, parsed) -> bool:
    """Whether the text wrote a key twice in one object (the parser kept one: fewer keys parsed than written).

    Fast path, for text without a backslash: with whitespace removed from both, the text and the parsed value
    re-serialised hold the same number of `":` exactly when no key was dropped — a `":` is a key before its colon or
    a string opening with a colon, both sides hold the same strings unless a key (and its value) was dropped, and no
    string can hold a quote. ~0.9 us per 15-field patient. Otherwise the tokenizing count (~4 us)."""
    if b"\\" not in body:
        try:
            written = body.translate(None, JSON_WHITESPACE).count(b'":')
            return written != orjson.dumps(parsed).translate(None, JSON_WHITESPACE).count(b'":')
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (it reads deeper): the exact count
            pass
    return keys_written(body) != key_count(parsed)


def keys_written(body: bytes) -> int:
    """Object keys in the text of valid JSON: each string becomes one NUL byte (no raw NUL can stand outside a
    string), whitespace outside strings goes, and a key is a string right before a colon."""
    return JSON_STRING.sub(b"\x00", body).translate(None, JSON_WHITESPACE).count(b"\x00:")


def key_count(value) -> int:
    """Keys of every object in a parsed JSON value (fewer than in the text when a key was repeated); iterative, so
    the deepest nesting the parser accepts cannot exhaust the stack."""
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            count += len(item)
            pending.extend(item.values())
        elif type(item) is list:
            pending.extend(item)
    return count


def repeated_key(body: bytes) -> str:
    """The first key written twice in one object (the slow path, taken only when the counts disagree)."""
    import json

    found: list[str] = []

    def pairs(items):
        keys = [key for key, _ in items]
        repeated = next((key for key in keys if keys.count(key) > 1), None)
        if repeated is not None and not found:
            found.append(repeated)
        return dict(items)

    with contextlib.suppress(RecursionError):  # nested deeper than the standard parser goes: the key is not named
        json.loads(body, object_pairs_hook=pairs)
    return found[0] if found else "body"


async def healthz(request: Request) -> Response:
    return Response(ALIVE, media_type="application/json")


async def readyz(request: Request) -> Response:
    return json_response({"status": "ready", "model": predictor_of(request).require_model().lineage})


async def model_manifest(request: Request) -> Response:
    return json_response(predictor_of(request).require_model().manifest)


async def prediction_request(request: Request) -> tuple[float, Predictor, LoadedModel, Any]:
    """What both prediction endpoints do first, in this order: the clock, the key (401), the model (503), the body."""
    started = time.perf_counter()
    predictor = predictor_of(request)
    request.app.state.keys.check(request)
    model = predictor.require_model()
    return started, predictor, model, await json_body(request)


async def predict(request: Request) -> Response:
    started, predictor, model, record = await prediction_request(request)
    visit_id = request.headers.get(VISIT_HEADER)
    refs = None if visit_id is None else predictor.visit_refs([visit_id], 1, VISIT_HEADER)
    return json_response((await predictor.predict([record], model, started, batch=False, visit_refs=refs))[0])


async def predict_batch(request: Request) -> Response:
    started, predictor, model, body = await prediction_request(request)
    if not isinstance(body, dict) or "patients" not in body or not set(body) <= {"patients", "visit_ids"} \
            or not isinstance(body["patients"], list):
        raise InvalidRequest([{"field": "body", "rule": 'an object {"patients": [...]} (and optionally '
                               '"visit_ids": [...]) and nothing else', "value": None}])
    patients, limit = body["patients"], predictor.settings.max_batch
    if len(patients) > limit:
        raise PayloadTooLarge(f"batch of {len(patients)} patients exceeds the limit of {limit} (TRIAGE_MAX_BATCH)",
                              limit=limit)
    refs = predictor.visit_refs(body["visit_ids"], len(patients), "visit_ids") if "visit_ids" in body else None
    if not patients:
        return json_response({"predictions": []})
    return json_response({"predictions": await predictor.predict(patients, model, started, batch=True,
                                                                 visit_refs=refs)})


async def stats(request: Request) -> Response:
    request.app.state.keys.check(request)
    return json_response(predictor_of(request).stats())


async def reload(request: Request) -> Response:
    request.app.state.keys.check(request)
    result = await asyncio.get_running_loop().run_in_executor(None, predictor_of(request).reload)
    return json_response(result, 200 if result["reloaded"] else 409)


async def metrics(request: Request) -> Response:
    """Prometheus metrics, for a scraper holding TRIAGE_METRICS_TOKEN: they include the counts per class."""
    predictor = predictor_of(request)
    token = predictor.settings.metrics_token
    if token is None:
        raise NotFound("metrics are off: set TRIAGE_METRICS_TOKEN and scrape with 'Authorization: Bearer <token>'")
    supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(supplied.encode(), token.encode()):
        raise Unauthorized("the metrics need 'Authorization: Bearer <TRIAGE_METRICS_TOKEN>'")
    return Response(generate_latest(predictor.registry), media_type=CONTENT_TYPE_LATEST)


async def form(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@dataclass(frozen=True)
class Endpoint:
    path: str
    handler: Callable[[Request], Awaitable[Response]]
    method: str
    hot: bool = False  # matched before FastAPI's own routes (the router tries routes in order)
    shed: bool = True  # refused with 503 under overload; health checks and metrics always pass


# the one list of the service's routes: the app, the guard middleware and the OpenAPI test read it
ENDPOINTS = (
    Endpoint("/healthz", healthz, "GET", hot=True, shed=False),
    Endpoint("/v1/predict", predict, "POST", hot=True),
    Endpoint("/v1/predict/batch", predict_batch, "POST", hot=True),
    Endpoint("/readyz", readyz, "GET", shed=False),
    Endpoint("/v1/model", model_manifest, "GET"),
    Endpoint("/v1/stats", stats, "GET"),
    Endpoint("/admin/reload", reload, "POST"),
    Endpoint("/metrics", metrics, "GET", shed=False),
    Endpoint("/", form, "GET"),
)
HOT_PATHS = frozenset(endpoint.path for endpoint in ENDPOINTS if endpoint.hot)
EXEMPT_FROM_SHEDDING = frozenset(endpoint.path for endpoint in ENDPOINTS if not endpoint.shed)
