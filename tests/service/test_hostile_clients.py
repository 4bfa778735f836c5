"""Clients that try to starve the real server: headers sent a line a second (slowloris), bodies trickled a few bytes
at a time, bodies larger than the limit. Normal traffic keeps being answered meanwhile."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import API_KEY, Server

pytestmark = pytest.mark.slow
PATIENT = {"age_years": 30, "sex": "F", "symptom_days": 2, "comorbidity_count": 0}


def normal_traffic(url: str, seconds: float) -> list[int]:
    """Statuses of plain prediction requests, one after another, each on a new connection."""
    statuses, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            statuses.append(httpx.post(url + "/v1/predict", json=PATIENT, headers={"X-API-Key": API_KEY},
                                       timeout=5).status_code)
        except httpx.TransportError:
            statuses.append(0)
        time.sleep(0.05)
    return statuses


class SlowClients:
    """`count` connections kept busy by `behaviour` (reconnecting when the server closes one) until stopped."""

    def __init__(self, port: int, count: int, behaviour):
        self.port, self.count, self.behaviour = port, count, behaviour
        self.stop = threading.Event()
        self.closed_by_server = 0
        self.answers: list[bytes] = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(count)]

    def __enter__(self) -> SlowClients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    answer = self.behaviour(sock, self.stop)
            except OSError:
                answer = b""
            self.closed_by_server += 1
            self.answers.append(answer)


def trickle_headers(sock: socket.socket, stop: threading.Event) -> bytes:
    sock.sendall(b"GET /v1/stats HTTP/1.1\r\nHost: x\r\n")
    while not stop.is_set():
        time.sleep(1.0)
        try:
            sock.sendall(b"X-Slow: still-sending\r\n")
        except OSError:
            break
    return _answer(sock)


def trickle_body(sock: socket.socket, stop: threading.Event) -> bytes:
    sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"X-API-Key: " + API_KEY.encode() + b"\r\nContent-Length: 2000\r\n\r\n{")
    while not stop.is_set():
        time.sleep(0.5)
        try:
            sock.sendall(b" ")
        except OSError:
            break
    return _answer(sock)


def _answer(sock: socket.socket) -> bytes:
    try:
        sock.settimeout(2)
        return sock.recv(200)
    except OSError:
        return b""


def test_slowloris_headers_cannot_take_the_server_down(model_dir, tmp_path):
    server = Server({"TRIAGE_MODEL_DIR": str(model_dir), "TRIAGE_HEADER_TIMEOUT_S": "1.5"}, tmp_path,
                    open_files=256).start()
    try:
        with SlowClients(server.port, 300, trickle_headers) as attackers:
            time.sleep(2)
            statuses = normal_traffic(server.url, 6)
        ok = statuses.count(200) / len(statuses)
        print(f"slowloris: {statuses.count(200)} of {len(statuses)} normal requests answered 200; "
              f"{attackers.closed_by_server} slow connections closed by the server")
        assert ok >= 0.95 and attackers.closed_by_server >= 300  # each slow connection dropped, not kept
        assert any(answer.startswith(b"HTTP/1.1 408") for answer in attackers.answers)
        assert server.process.poll() is None and "Too many open files" not in server.log_text()
    finally:
        server.stop()


def test_trickled_bodies_do_not_hold_inference_slots(model_dir, tmp_path):
    server = Server({"TRIAGE_MODEL_DIR": str(model_dir), "TRIAGE_MAX_INFLIGHT": "64",
                     "TRIAGE_BODY_TIMEOUT_S": "3"}, tmp_path).start()
    try:
        with SlowClients(server.port, 80, trickle_body) as attackers:
            time.sleep(1)
            statuses = normal_traffic(server.url, 5)
        print(f"trickled bodies: {statuses.count(200)} of {len(statuses)} normal requests answered 200")
        assert statuses.count(200) == len(statuses)  # no 503: upload time is not in-flight time
        assert any(answer.startswith(b"HTTP/1.1 408") for answer in attackers.answers)
    finally:
        server.stop()


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:"))


def test_an_oversized_body_is_refused_while_reading_not_after(model_dir, tmp_path):
    server = Server({"TRIAGE_MODEL_DIR": str(model_dir), "TRIAGE_MAX_BODY_BYTES": str(1 << 20)}, tmp_path).start()
    try:
        before = rss_mb(server.process.pid)
        with socket.create_connection(("127.0.0.1", server.port)) as sock:  # declared: refused before any byte
            sock.sendall(b"POST /v1/predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 57671680\r\n\r\n")
            answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 413")

        def chunks():
            yield b'{"patients": ['
            for _ in range(60):
                yield b'{"age_years": 30, "sex": "F", "symptom_days": 2, "comorbidity_count": 0},' * 1500

        started = time.monotonic()
        response = httpx.post(server.url + "/v1/predict/batch", content=chunks(), timeout=30,
                              headers={"X-API-Key": API_KEY, "Content-Type": "application/json"})
        assert response.status_code == 413 and response.json()["limit"] == 1 << 20
        assert time.monotonic() - started < 10
        grown = rss_mb(server.process.pid) - before
        print(f"oversized bodies: server RSS grew {grown:.0f} MB")
        assert grown < 40
        assert httpx.post(server.url + "/v1/predict", json=PATIENT, headers={"X-API-Key": API_KEY}).status_code == 200
    finally:
        server.stop()
