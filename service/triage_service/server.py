"""The HTTP server side of slow-client protection, below the ASGI app.

uvicorn's httptools protocol with two additions:
- a deadline for a request's headers (TRIAGE_HEADER_TIMEOUT_S, enforced by one sweep every quarter of it, so within
  1.25x): a client that trickles its headers, or connects and sends nothing, gets 408 and is disconnected;
- a cap on open connections (TRIAGE_MAX_CONNECTIONS, kept below the open-file limit so slow clients cannot exhaust
  the descriptors the service itself needs). At the cap, a new connection evicts the oldest one still waiting for its
  headers — a slow client, since a normal request sends its headers in one packet — and only when every connection
  is past its headers is the new one refused (503, disconnected).
Idle keep-alive connections are closed by uvicorn (timeout_keep_alive). The body's size and time limits are in the
middleware. Behind a proxy (nginx, an AWS load balancer) the proxy buffers requests and these limits are a second
line.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADERS_TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
TOO_MANY_CONNECTIONS = (b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\n"
                        b"content-length: 0\r\n\r\n")


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[HttpToolsProtocol]:
    # connections still waiting for their request's headers -> deadline, oldest first (a re-armed connection moves to
    # the end). One sweep timer for all of them, not a timer per request: arming is a dict insert on the hot path.
    awaiting_headers: dict = {}
    sweep_every = max(header_timeout_s / 4, 0.05)
    sweeper: list = [None]  # the pending sweep's TimerHandle, or None when nothing waits

    def sweep(loop) -> None:
        sweeper[0] = None
        now = loop.time()
        for connection, deadline in list(awaiting_headers.items()):
            if deadline > now:
                break  # the rest armed later
            connection.headers_too_slow()
        if awaiting_headers:
            sweeper[0] = loop.call_later(sweep_every, sweep, loop)

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections and not self.evict_a_slow_client():
                transport.write(TOO_MANY_CONNECTIONS)
                transport.close()
                return
            self.arm()

        def evict_a_slow_client(self) -> bool:
            oldest = next(iter(awaiting_headers), None)
            if oldest is None:
                return False
            oldest.headers_too_slow()
            return True

        def on_message_begin(self) -> None:  # the next request on a kept-alive connection: its own deadline
            super().on_message_begin()
            if self not in awaiting_headers:
                self.arm()

        def on_headers_complete(self) -> None:
            awaiting_headers.pop(self, None)
            super().on_headers_complete()

        def connection_lost(self, exc) -> None:
            awaiting_headers.pop(self, None)
            super().connection_lost(exc)

        def arm(self) -> None:
            awaiting_headers.pop(self, None)
            awaiting_headers[self] = self.loop.time() + header_timeout_s
            if sweeper[0] is None:
                sweeper[0] = self.loop.call_later(sweep_every, sweep, self.loop)

        def headers_too_slow(self) -> None:
            awaiting_headers.pop(self, None)
            if not self.transport.is_closing():
                self.transport.write(HEADERS_TOO_SLOW)
                self.transport.close()

    return GuardedHttpToolsProtocol
