"""The FastAPI application factory: routes, API-key auth, load shedding, prediction log, metrics, reload."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import itertools
import logging
import secrets
import signal
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from triage_store import ModelStore

from .batcher import InferenceBatcher
from .contract import InvalidRequest
from .metrics import ServiceMetrics
from .middleware import GuardMiddleware
from .model import LoadedModel, ModelRejected, load_from_bucket, load_local
from .predlog import LogPusher, PredictionLog
from .settings import Settings

STATIC = Path(__file__).parent / "static"
API_KEY_HEADER = "x-api-key"
VISIT_HEADER = "X-Visit-Id"
log = logging.getLogger("triage.service")


def json_response(content, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json", headers=headers)


def problem(status: int, detail, headers: dict | None = None) -> Response:
    return json_response({"detail": detail}, status, headers)


class Service:
    """Mutable state behind the app: the model (swapped atomically), log, stats and metrics."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model: LoadedModel | None = None
        self.load_error: str | None = None
        self.registry = CollectorRegistry()
        self.metrics = ServiceMetrics(self.registry)
        self.log = PredictionLog(settings.log_file)
        self.class_counts: Counter[str] = Counter()
        self.recent: deque[dict] = deque(maxlen=settings.stats_recent)
        self.store = ModelStore.from_env(settings.bucket, settings.s3_endpoint) if settings.bucket else None
        self.pusher = LogPusher(settings.log_file, settings.env, self.store.client, self.store.bucket) \
            if self.store else None
        self._keys = [key.encode() for key in settings.api_keys]
        self.batcher = InferenceBatcher()
        self._id_prefix = secrets.token_hex(8)
        self._id_counter = itertools.count()
        self._pseudonym_key = settings.pseudonym_key.encode() if settings.pseudonym_key else None

    # --- model ------------------------------------------------------------------------------------------------
    def load(self) -> LoadedModel:
        if self.settings.model_dir is not None:
            return load_local(self.settings.model_dir, self.settings.env)
        return load_from_bucket(self.store, self.settings.env)

    def reload(self) -> dict:
        """Load, verify and swap in the current model; on failure the old model keeps serving."""
        try:
            candidate = self.load()
        except ModelRejected as error:
            self.metrics.reloads.labels("refused").inc()
            log.error("model refused, %s: %s", "keeping the current one" if self.model else "not ready", error)
            if self.model is None:
                self.load_error = str(error)
            return {"reloaded": False, "reason": str(error),
                    "serving": self.model.lineage if self.model else None}
        self.model = candidate  # a single reference assignment: requests see the old or the new model, never a mix
        self.load_error = None
        self.metrics.reloads.labels("loaded").inc()
        self.metrics.set_model(candidate.lineage)
        log.info("serving %s %s (sha256 %s…)", candidate.lineage["name"], candidate.lineage["version"],
                 candidate.lineage["sha256"][:12])
        return {"reloaded": True, "serving": candidate.lineage}

    # --- auth ---------------------------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        supplied = request.headers.get(API_KEY_HEADER)
        if not supplied:
            return problem(401, "missing API key: send it in the X-API-Key header", {"WWW-Authenticate": "ApiKey"})
        supplied_bytes = supplied.encode()
        accepted = False
        for key in self._keys:  # compare with every key, in constant time, whatever matches
            accepted |= secrets.compare_digest(supplied_bytes, key)
        return None if accepted else problem(403, "API key not accepted")

    # --- predictions --------------------------------------------------------------------------------------------
    async def predict(self, records: list, model: LoadedModel, started: float, batch: bool,
                      visit_refs: list[str | None] | None = None) -> list[dict]:
        """Validate (here, on the event loop), score (on the inference thread, micro-batched), then decide, log and
        count. Plain Python over `tolist()` rows: for the usual one- to few-row request, numpy calls on tiny arrays
        cost more than the arithmetic."""
        matrix = model.contract.matrix(records, prefix_rows=batch)
        rows = (await self.batcher.probabilities(model, matrix)).tolist()
        classes, labels, orphan = model.classes, model.labels_es, model.orphan_index
        lineage, env, threshold, review_at = model.lineage, self.settings.env, model.orphan_threshold, \
            model.review_threshold
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        results, log_lines, recent, counts = [], [], [], self.class_counts
        refs = visit_refs or [None] * len(records)
        for record, row, visit_ref in zip(records, rows, refs, strict=True):
            decided = model.decide(row)
            review = max(row) < review_at
            probabilities = dict(zip(classes, [round(value, 6) for value in row], strict=True))
            request_id = self.next_request_id()
            klass = classes[decided]
            results.append({
                "request_id": request_id, "triage_class": klass, "label_es": labels[decided],
                "probabilities": probabilities, "specialist_review": review,
                "message": model.review_message if review else None,
                "orphan": None if orphan is None else {"probability": probabilities["orphan"],
                                                       "threshold": threshold, "compatible": decided == orphan},
                "model": lineage,
            })
            output = {"triage_class": klass, "probabilities": probabilities, "specialist_review": review}
            log_lines.append({"request_id": request_id, "time": now, "env": env, "model_version": lineage["version"],
                              "model_sha256": lineage["sha256"], "visit_ref": visit_ref, "input": record,
                              "output": output, "latency_ms": latency_ms})
            recent.append({"request_id": request_id, "time": now, "triage_class": klass, "specialist_review": review})
            counts[klass] += 1
        self.log.append_many(log_lines)
        self.metrics.observe_predictions(results)
        self.recent.extend(recent)
        return results

    def visit_refs(self, visit_ids: object, count: int, field: str) -> list[str | None]:
        """Keyed pseudonyms of the caller's visit ids (so labels that arrive later can be joined to predictions);
        the ids themselves are never logged."""
        if visit_ids is None:
            return [None] * count
        if not isinstance(visit_ids, list) or len(visit_ids) != count:
            raise InvalidRequest([{"field": field, "rule": f"a list of {count} visit ids, one per patient",
                                   "value": None}])
        if self._pseudonym_key is None:
            raise InvalidRequest([{"field": field, "rule": "visit ids are accepted only when the service has a "
                                   "pseudonymisation key (TRIAGE_PSEUDONYM_KEY)", "value": None}])
        refs = []
        for position, visit_id in enumerate(visit_ids):
            if not isinstance(visit_id, str) or not 1 <= len(visit_id.strip()) <= 64:
                raise InvalidRequest([{"field": f"{field}[{position}]" if count > 1 or field != VISIT_HEADER
                                       else field, "rule": "a visit id of 1 to 64 characters",
                                       "value": visit_id if isinstance(visit_id, str | int) else None}])
            refs.append(hmac.new(self._pseudonym_key, visit_id.strip().encode(), hashlib.sha256).hexdigest()[:24])
        return refs

    def next_request_id(self) -> str:
        """32 hex characters like a UUID: a random per-process prefix and a counter (no syscall per request)."""
        return f"{self._id_prefix}{next(self._id_counter):016x}"

    def stats(self) -> dict:
        classes = self.model.classes if self.model else sorted(self.class_counts)
        return {"env": self.settings.env, "total_predictions": sum(self.class_counts.values()),
                "counts_per_class": {c: self.class_counts.get(c, 0) for c in classes},
                "specialist_review_share": self.metrics.review_share(),
                "recent": list(self.recent)[::-1], "model": self.model.lineage if self.model else None,
                "inference": {"calls": self.batcher.calls, "rows": self.batcher.rows}}


async def _parse_json(request: Request):
    body = await request.body()
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError as error:
        return None, problem(422, [{"field": "body", "rule": "valid JSON", "value": str(error)[:120]}])


def create_app(settings: Settings) -> FastAPI:
    service = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.reload()
        gc.collect()
        gc.freeze()  # start-up objects (framework, model, manifest) leave the collector's view: no long pauses later
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, service.reload)
        tasks = [asyncio.create_task(_retry_until_ready(service))]
        if service.pusher and settings.log_push_interval_s > 0:
            tasks.append(asyncio.create_task(_push_periodically(service)))
        yield
        for task in tasks:
            task.cancel()
        if service.pusher:
            try:
                service.pusher.push()
            except Exception as error:  # the log stays on disk and the offset unchanged: the next start pushes it
                log.error("final push of the prediction log failed: %s", error)
        service.batcher.close()
        service.log.close()

    # FastAPI's native OpenTelemetry is off: the service exports Prometheus metrics, and the per-request check for
    # a configured OTel provider cost ~12 µs of every request.
    app = FastAPI(title="triage", version="1.0", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Clinical triage aid (not a diagnosis): class, probabilities, specialist-review flag.")
    app.state.service = service
    app.add_middleware(GuardMiddleware, max_inflight=settings.max_inflight, timeout_s=settings.request_timeout_s,
                       metrics=service.metrics)

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"alive"}', media_type="application/json")

    @app.get("/readyz", tags=["health"])
    async def readyz() -> Response:
        if service.model is None:
            return problem(503, f"model not loaded: {service.load_error or 'loading'}")
        return json_response({"status": "ready", "model": service.model.lineage})

    @app.get("/v1/model", tags=["model"])
    async def model_manifest() -> Response:
        if service.model is None:
            return problem(503, "model not loaded")
        return json_response(service.model.manifest)

    async def accepted(request: Request) -> tuple[LoadedModel | None, object, Response | None]:
        """Auth, readiness and JSON parsing shared by the prediction endpoints: (model, body, refusal)."""
        denied = service.authorize(request)
        if denied:
            return None, None, denied
        model = service.model
        if model is None:
            return None, None, problem(503, "model not loaded", {"Retry-After": "5"})
        body, error = await _parse_json(request)
        return model, body, error

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        model, record, refusal = await accepted(request)
        if refusal:
            return refusal
        try:
            visit_id = request.headers.get(VISIT_HEADER)
            refs = service.visit_refs(None if visit_id is None else [visit_id], 1, VISIT_HEADER)
            return json_response((await service.predict([record], model, started, batch=False, visit_refs=refs))[0])
        except InvalidRequest as invalid:
            return problem(422, invalid.errors)

    async def predict_batch(request: Request) -> Response:
        started = time.perf_counter()
        model, body, refusal = await accepted(request)
        if refusal:
            return refusal
        if not isinstance(body, dict) or "patients" not in body or not set(body) <= {"patients", "visit_ids"} \
                or not isinstance(body["patients"], list):
            return problem(422, [{"field": "body", "rule": 'an object {"patients": [...]} (and optionally '
                                  '"visit_ids": [...]) and nothing else', "value": None}])
        patients = body["patients"]
        if len(patients) > settings.max_batch:
            return problem(413, f"batch of {len(patients)} patients exceeds the limit of {settings.max_batch} "
                                f"(TRIAGE_MAX_BATCH)")
        if not patients:
            return json_response({"predictions": []})
        try:
            refs = service.visit_refs(body.get("visit_ids"), len(patients), "visit_ids")
            return json_response({"predictions": await service.predict(patients, model, started, batch=True,
                                                                       visit_refs=refs)})
        except InvalidRequest as invalid:
            return problem(422, invalid.errors)

    @app.get("/v1/stats", tags=["model"])
    async def stats(request: Request) -> Response:
        denied = service.authorize(request)
        return denied or json_response(service.stats())

    @app.post("/admin/reload", tags=["admin"])
    async def reload(request: Request) -> Response:
        denied = service.authorize(request)
        if denied:
            return denied
        result = await asyncio.get_running_loop().run_in_executor(None, service.reload)
        return json_response(result, 200 if result["reloaded"] else 409)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def form() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    # The hot endpoints (and the constant floor they are measured against) are plain Starlette routes: FastAPI's
    # dependency solving and request wrapper cost more per request than the model itself. Their OpenAPI entries
    # are written below.
    app.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/v1/predict", predict, methods=["POST"], include_in_schema=False)
    app.add_route("/v1/predict/batch", predict_batch, methods=["POST"], include_in_schema=False)
    hot = {"/healthz", "/v1/predict", "/v1/predict/batch"}
    app.router.routes.sort(key=lambda route: getattr(route, "path", "") not in hot)  # matched first, in order

    def openapi() -> dict:
        """The OpenAPI document, with the request schemas of the model being served."""
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema["paths"].update(RAW_ROUTE_DOCS)
        if service.model is not None:
            patient = service.model.contract.json_schema()
            schema.setdefault("components", {}).setdefault("schemas", {})["Patient"] = patient
            schema["components"]["schemas"]["Batch"] = {
                "type": "object", "required": ["patients"], "additionalProperties": False,
                "properties": {"patients": {"type": "array", "maxItems": settings.max_batch,
                                            "items": {"$ref": "#/components/schemas/Patient"}},
                               "visit_ids": VISIT_IDS_SCHEMA}}
        schema.setdefault("components", {})["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
        for path in ("/v1/predict", "/v1/predict/batch", "/v1/stats", "/admin/reload"):
            for operation in schema["paths"].get(path, {}).values():
                operation["security"] = [{"ApiKey": []}]
        return schema

    app.openapi = openapi
    return app


def _operation(summary: str, body: str | None, tag: str) -> dict:
    responses = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    operation = {"tags": [tag], "summary": summary, "responses": responses}
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
        responses.update({code: {"description": text} for code, text in (
            ("401", "missing API key"), ("403", "API key not accepted"), ("413", "batch over the limit"),
            ("422", "invalid input: each field, rule and value"), ("503", "model not loaded or overloaded"))})
    return operation


VISIT_IDS_SCHEMA = {
    "type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64},
    "description": "Optional, one per patient: the caller's visit ids, logged only as keyed hashes so that labels "
                   "arriving later can be joined to the predictions. Needs TRIAGE_PSEUDONYM_KEY on the server."}
VISIT_HEADER_DOC = {"name": VISIT_HEADER, "in": "header", "required": False, "schema": {"type": "string"},
                    "description": VISIT_IDS_SCHEMA["description"]}

RAW_ROUTE_DOCS = {
    "/healthz": {"get": _operation("Process alive", None, "health")},
    "/v1/predict": {"post": {**_operation("Triage one patient", "Patient", "predict"),
                             "parameters": [VISIT_HEADER_DOC]}},
    "/v1/predict/batch": {"post": _operation("Triage a batch of patients", "Batch", "predict")},
}


async def _retry_until_ready(service: Service, every_s: float = 10.0) -> None:
    """If the model could not be loaded at start (no publish yet, bucket unreachable), keep trying."""
    while service.model is None:
        await asyncio.sleep(every_s)
        await asyncio.get_running_loop().run_in_executor(None, service.reload)


async def _push_periodically(service: Service) -> None:
    while True:
        await asyncio.sleep(service.settings.log_push_interval_s)
        try:
            await asyncio.get_running_loop().run_in_executor(None, service.pusher.push)
        except Exception as error:  # a failed push is retried at the next interval; nothing is lost
            log.warning("pushing the prediction log failed (will retry): %s", error)

