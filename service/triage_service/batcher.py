"""ONNX Runtime off the event loop, with micro-batching.

Requests hand their validated rows to one inference thread through a lock-free queue and await a future. The thread
takes everything that arrived meanwhile, scores it in one `session.run` per model (ONNX Runtime releases the GIL,
so the event loop keeps parsing and answering requests on the other core), and resolves all the futures with a
single wake-up of the loop. Under load, rows from concurrent requests share one call; alone, a request waits only
for the thread hand-off. A long batch never blocks the loop, so the per-request time limit applies to it too.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import LoadedModel

log = logging.getLogger("triage.service")
_STOP = object()


class InferenceBatcher:
    def __init__(self, max_rows: int = 4096):
        self.max_rows = max_rows
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="triage-inference", daemon=True)
        self._thread.start()
        self.calls = 0  # session.run calls, and rows scored: rows / calls is the mean micro-batch size
        self.rows = 0

    async def probabilities(self, model: LoadedModel, matrix: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((model, matrix, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            pending, rows = [first], len(first[1])
            while rows < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                pending.append(item)
                rows += len(item[1])
            self._score(pending)

    def _score(self, pending: list[tuple]) -> None:
        by_model: dict[int, list[tuple]] = {}
        for item in pending:  # a reload between requests: each request is scored by the model it started with
            by_model.setdefault(id(item[0]), []).append(item)
        for items in by_model.values():
            outcomes = self._run(items)
            loop = items[0][3]
            loop.call_soon_threadsafe(_resolve, outcomes)

    def _run(self, items: list[tuple]) -> list[tuple[asyncio.Future, object, bool]]:
        model = items[0][0]
        try:
            matrix = items[0][1] if len(items) == 1 else np.concatenate([item[1] for item in items])
            scores = model.probabilities(matrix)
        except Exception as error:  # reported to every waiting request, never kills the thread
            log.exception("inference failed")
            return [(item[2], error, False) for item in items]
        self.calls += 1
        self.rows += len(matrix)
        outcomes, start = [], 0
        for item in items:
            end = start + len(item[1])
            outcomes.append((item[2], scores[start:end], True))
            start = end
        return outcomes


def _resolve(outcomes: list[tuple[asyncio.Future, object, bool]]) -> None:
    for future, value, ok in outcomes:
        if future.cancelled():  # the request timed out or the client left
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
