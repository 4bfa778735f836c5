"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware) that refuses what the service cannot handle before doing
work, and counts what it does:

1. request headers over TRIAGE_MAX_HEADER_BYTES (names and values together) are refused (431) before anything else;
   the request body is read here first, bounded in size (TRIAGE_MAX_BODY_BYTES: a declared Content-Length over it is
   refused before a byte is read, a streamed body as soon as it passes it: 413) and in time (TRIAGE_BODY_TIMEOUT_S:
   408), and handed to the app from memory — so upload time never holds an inference slot;
2. then load shedding: more than TRIAGE_MAX_INFLIGHT requests being handled get 503 with Retry-After (health checks
   and metrics pass);
3. then a time limit per request (TRIAGE_REQUEST_TIMEOUT_S: 504);
and the request count and latency metrics by endpoint and status. Refusals are RFC 9457 problem details.
"""

from __future__ import annotations

import asyncio
import time

from .errors import PROBLEM_JSON, problem_body

OVERLOADED = problem_body(503, "overloaded: too many requests in flight, retry shortly")
TOO_SLOW = problem_body(504, "request took longer than TRIAGE_REQUEST_TIMEOUT_S")


class BodyRefused(Exception):
    def __init__(self, status: int, body: bytes):
        self.status, self.body = status, body


class GuardMiddleware:
    """`known_paths`: the app's routes (metrics are labelled by them, anything else as "other");
    `exempt_from_shedding`: the paths answered even under overload."""

    def __init__(self, app, known_paths: frozenset[str], exempt_from_shedding: frozenset[str], metrics,
                 max_inflight: int, timeout_s: float, max_body_bytes: int, body_timeout_s: float,
                 max_header_bytes: int):
        self.app = app
        self.known_paths, self.exempt_from_shedding = known_paths, exempt_from_shedding
        self.max_header_bytes = max_header_bytes
        self._headers_too_large = problem_body(
            431, f"request headers exceed {max_header_bytes:,} bytes (TRIAGE_MAX_HEADER_BYTES)", limit=max_header_bytes)
        self.max_inflight = max_inflight
        self.timeout_s = timeout_s
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.inflight = 0
        self._body_too_slow = problem_body(
            408, f"the request body did not arrive within {body_timeout_s:g} s (TRIAGE_BODY_TIMEOUT_S)",
            limit=body_timeout_s)
        self._children: dict = {}  # cached metric children per endpoint (label lookups are not free)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in self.known_paths else "other"
        if sum(len(name) + len(value) for name, value in scope["headers"]) > self.max_header_bytes:
            self.count(endpoint, 431)
            await _send_problem(send, 431, self._headers_too_large, [(b"connection", b"close")])
            return
        with_body = scope["method"] in ("POST", "PUT", "PATCH")
        status = {"code": 500, "started": False, "phase": "body" if with_body else "queue"}

        async def tracking_send(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        started = time.perf_counter()
        try:  # one deadline: the body's while it is read, then the request's (rescheduled, not a second timer)
            async with asyncio.timeout(self.body_timeout_s if with_body else self.timeout_s) as deadline:
                if with_body:
                    receive = await self.buffered(scope, receive)
                    if receive is None:  # the client left while sending its body
                        return
                    deadline.reschedule(asyncio.get_running_loop().time() + self.timeout_s)
                if self.inflight >= self.max_inflight and endpoint not in self.exempt_from_shedding:
                    self.metrics.shed.inc()
                    self.count(endpoint, 503)
                    await _send_problem(send, 503, OVERLOADED, [(b"retry-after", b"1")])
                    return
                status["phase"] = "app"
                self.inflight += 1
                await self.app(scope, receive, tracking_send)
        except BodyRefused as refused:
            self.count(endpoint, refused.status)
            await _send_problem(send, refused.status, refused.body, [(b"connection", b"close")])
        except TimeoutError:
            if status["phase"] == "body":
                self.count(endpoint, 408)
                await _send_problem(send, 408, self._body_too_slow, [(b"connection", b"close")])
            elif not status["started"]:
                status["code"] = 504
                await _send_problem(send, 504, TOO_SLOW, [])
        finally:
            if status["phase"] == "app":
                self.inflight -= 1
                self.count(endpoint, status["code"])
                self.latency(endpoint).observe(time.perf_counter() - started)

    async def buffered(self, scope, receive):
        """The whole body read within the size limit (the caller's deadline bounds the time), then a receive that
        hands it to the app from memory (None when the client disconnected)."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            raise BodyRefused(413, self._too_large(declared))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyRefused(413, self._too_large(size))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: a disconnect, when it comes

        return replay

    def _too_large(self, size: int) -> bytes:
        return problem_body(413, f"request body of {size:,}+ bytes exceeds the limit of {self.max_body_bytes:,} "
                            "bytes (TRIAGE_MAX_BODY_BYTES)", limit=self.max_body_bytes)

    def count(self, endpoint: str, code: int) -> None:
        counters = self._metric_children(endpoint)[0]
        counter = counters.get(code)
        if counter is None:
            counter = counters[code] = self.metrics.requests.labels(endpoint, str(code))
        counter.inc()

    def latency(self, endpoint: str):
        return self._metric_children(endpoint)[1]

    def _metric_children(self, endpoint: str) -> tuple[dict, object]:
        children = self._children.get(endpoint)
        if children is None:
            children = self._children[endpoint] = ({}, self.metrics.latency.labels(endpoint))
        return children


def _content_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_problem(send, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
