"""The application factory: the predictor loaded at start-up, the routes, the one error handler, load shedding and
time limits, the OpenAPI document, and the background work (reload retries, log pushes, SIGHUP reload)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from fastapi import FastAPI

from . import errors, openapi
from .auth import ApiKeys
from .middleware import GuardMiddleware
from .predictor import Predictor
from .routes import ENDPOINTS, EXEMPT_FROM_SHEDDING, HOT_PATHS
from .settings import Settings

TITLE, VERSION = "triage", "1.0"
DESCRIPTION = "Clinical triage aid (not a diagnosis): class, probabilities, specialist-review flag."
log = logging.getLogger("triage.service")


def create_app(settings: Settings) -> FastAPI:
    predictor = Predictor(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        predictor.reload()
        gc.collect()
        gc.freeze()  # start-up objects (framework, model, manifest) leave the collector's view: no long pauses later
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, predictor.reload)
        tasks = [asyncio.create_task(retry_until_ready(predictor))]
        if predictor.pusher and settings.log_push_interval_s > 0:
            tasks.append(asyncio.create_task(push_periodically(predictor)))
        yield
        for task in tasks:
            task.cancel()
        if predictor.pusher:
            try:
                predictor.pusher.push()
            except Exception as error:  # the log stays on disk and the offset unchanged: the next start pushes it
                log.error("final push of the prediction log failed: %s", error)
        predictor.close()

    # FastAPI's native OpenTelemetry is off: the service exports Prometheus metrics, and the per-request check for
    # a configured OTel provider cost ~12 µs of every request.
    app = FastAPI(title=TITLE, version=VERSION, description=DESCRIPTION, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.predictor = predictor
    app.state.keys = ApiKeys(settings.api_keys)
    errors.install(app)
    for endpoint in ENDPOINTS:
        app.add_route(endpoint.path, endpoint.handler, methods=[endpoint.method], include_in_schema=False)
    app.router.routes.sort(key=lambda route: getattr(route, "path", "") not in HOT_PATHS)  # matched first, in order
    app.add_middleware(GuardMiddleware, known_paths=frozenset(route.path for route in app.router.routes),
                       exempt_from_shedding=EXEMPT_FROM_SHEDDING, metrics=predictor.metrics,
                       max_inflight=settings.max_inflight, timeout_s=settings.request_timeout_s,
                       max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s,
                       max_header_bytes=settings.max_header_bytes)

    def document() -> dict:
        model = predictor.model
        return openapi.document(TITLE, VERSION, DESCRIPTION, model.contract.json_schema() if model else None,
                                model.classes if model else None, settings.max_batch,
                                visit_ids=settings.pseudonym_key is not None)

    app.openapi = document
    return app


async def retry_until_ready(predictor: Predictor, every_s: float = 10.0) -> None:
    """If the model could not be loaded at start (no publish yet, bucket unreachable), keep trying."""
    while predictor.model is None:
        await asyncio.sleep(every_s)
        await asyncio.get_running_loop().run_in_executor(None, predictor.reload)


async def push_periodically(predictor: Predictor) -> None:
    while True:
        await asyncio.sleep(predictor.settings.log_push_interval_s)
        try:
            await asyncio.get_running_loop().run_in_executor(None, predictor.pusher.push)
        except Exception as error:  # a failed push is retried at the next interval; nothing is lost
            log.warning("pushing the prediction log failed (will retry): %s", error)
