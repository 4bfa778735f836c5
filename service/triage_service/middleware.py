"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware): load shedding, a time limit per request, and the
request count / latency metrics by endpoint and status."""

from __future__ import annotations

import asyncio
import time

KNOWN_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/v1/model", "/v1/stats",
                         "/v1/predict", "/v1/predict/batch", "/admin/reload"})


class GuardMiddleware:
    def __init__(self, app, max_inflight: int, timeout_s: float, metrics):
        self.app = app
        self.max_inflight = max_inflight
        self.timeout_s = timeout_s
        self.metrics = metrics
        self.inflight = 0
        self._children: dict = {}  # cached metric children per endpoint (label lookups are not free)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        if self.inflight >= self.max_inflight and endpoint not in ("/healthz", "/readyz", "/metrics"):
            self.metrics.shed.inc()
            self.metrics.requests.labels(endpoint, "503").inc()
            await _send_json(send, 503, b'{"detail":"overloaded: too many requests in flight, retry shortly"}',
                             [(b"retry-after", b"1")])
            return
        status = {"code": 500, "started": False}

        async def tracking_send(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        self.inflight += 1
        started = time.perf_counter()
        children = self._children.get(endpoint)
        if children is None:
            children = self._children[endpoint] = ({}, self.metrics.latency.labels(endpoint))
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not status["started"]:
                status["code"] = 504
                await _send_json(send, 504, b'{"detail":"request took longer than TRIAGE_REQUEST_TIMEOUT_S"}', [])
        finally:
            self.inflight -= 1
            counters, latency = children
            counter = counters.get(status["code"])
            if counter is None:
                counter = counters[status["code"]] = self.metrics.requests.labels(endpoint, str(status["code"]))
            counter.inc()
            latency.observe(time.perf_counter() - started)


async def _send_json(send, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
