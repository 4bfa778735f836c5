"""The HTTP handlers: each reads the request, calls the predictor, and returns a response; errors are raised
(`errors.ApiError`) and answered by the one handler in `errors`. The hot endpoints are plain Starlette routes:
FastAPI's dependency solving and request wrapper cost more per request than the model itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from .errors import InvalidRequest, PayloadTooLarge, json_response
from .predictor import VISIT_HEADER, Predictor

STATIC = Path(__file__).parent / "static"
ALIVE = b'{"status":"alive"}'


def predictor_of(request: Request) -> Predictor:
    return request.app.state.predictor


async def json_body(request: Request):
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest([{"field": "body", "rule": "valid JSON", "value": str(error)[:120]}]) from None


async def healthz(request: Request) -> Response:
    return Response(ALIVE, media_type="application/json")


async def readyz(request: Request) -> Response:
    return json_response({"status": "ready", "model": predictor_of(request).require_model().lineage})


async def model_manifest(request: Request) -> Response:
    return json_response(predictor_of(request).require_model().manifest)


async def predict(request: Request) -> Response:
    started = time.perf_counter()
    predictor = predictor_of(request)
    request.app.state.keys.check(request)
    model = predictor.require_model()
    record = await json_body(request)
    visit_id = request.headers.get(VISIT_HEADER)
    refs = predictor.visit_refs(None if visit_id is None else [visit_id], 1, VISIT_HEADER)
    return json_response((await predictor.predict([record], model, started, batch=False, visit_refs=refs))[0])


async def predict_batch(request: Request) -> Response:
    started = time.perf_counter()
    predictor = predictor_of(request)
    request.app.state.keys.check(request)
    model = predictor.require_model()
    body = await json_body(request)
    if not isinstance(body, dict) or "patients" not in body or not set(body) <= {"patients", "visit_ids"} \
            or not isinstance(body["patients"], list):
        raise InvalidRequest([{"field": "body", "rule": 'an object {"patients": [...]} (and optionally '
                               '"visit_ids": [...]) and nothing else', "value": None}])
    patients, limit = body["patients"], predictor.settings.max_batch
    if len(patients) > limit:
        raise PayloadTooLarge(f"batch of {len(patients)} patients exceeds the limit of {limit} (TRIAGE_MAX_BATCH)")
    if not patients:
        return json_response({"predictions": []})
    refs = predictor.visit_refs(body.get("visit_ids"), len(patients), "visit_ids")
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
    return Response(generate_latest(predictor_of(request).registry), media_type=CONTENT_TYPE_LATEST)


async def form(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


# (path, handler, method), the hot ones first: the router matches in this order
ROUTES = (
    ("/healthz", healthz, "GET"),
    ("/v1/predict", predict, "POST"),
    ("/v1/predict/batch", predict_batch, "POST"),
    ("/readyz", readyz, "GET"),
    ("/v1/model", model_manifest, "GET"),
    ("/v1/stats", stats, "GET"),
    ("/admin/reload", reload, "POST"),
    ("/metrics", metrics, "GET"),
    ("/", form, "GET"),
)
HOT_PATHS = frozenset({"/healthz", "/v1/predict", "/v1/predict/batch"})
