"""The predictor: the model being served (swapped atomically on reload), scoring through the inference thread, the
product's decision rule, the prediction log, visit-id pseudonyms, and the counts behind /v1/stats and /metrics."""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections import Counter, deque
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from triage_shared import predlog
from triage_shared.decision import decide, needs_review
from triage_shared.pseudonym import pseudonym
from triage_shared.store import ModelStore

from .batcher import InferenceBatcher
from .errors import InvalidRequest, NotReady
from .log_writer import LogPusher, PredictionLog
from .metrics import ServiceMetrics
from .model import LoadedModel, ModelRejected, load_from_bucket, load_local
from .settings import Settings

VISIT_HEADER = "X-Visit-Id"
MAX_VISIT_ID = 64
log = logging.getLogger("triage.service")


class Predictor:
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

    def require_model(self) -> LoadedModel:
        model = self.model
        if model is None:
            raise NotReady(f"model not loaded: {self.load_error or 'loading'}")
        return model

    # --- predictions --------------------------------------------------------------------------------------------
    async def predict(self, records: list, model: LoadedModel, started: float, batch: bool,
                      visit_refs: list[str | None] | None = None) -> list[dict]:
        """Validate (here, on the event loop), score (on the inference thread, micro-batched), then decide, log and
        count. Plain Python over `tolist()` rows: for the usual one- to few-row request, numpy calls on tiny arrays
        cost more than the arithmetic."""
        matrix = model.contract.matrix(records, prefix_rows=batch)
        scores = await self.batcher.probabilities(model, matrix)
        decided = decide(scores, model.orphan_threshold, model.orphan_index).tolist()
        reviews = needs_review(scores, model.review_threshold).tolist()
        rows = scores.tolist()
        classes, labels, orphan, threshold = model.classes, model.labels_es, model.orphan_index, model.orphan_threshold
        lineage, env = model.lineage, self.settings.env
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        results, log_lines, recent, counts = [], [], [], self.class_counts
        refs = visit_refs or [None] * len(records)
        for record, row, chosen, review, visit_ref in zip(records, rows, decided, reviews, refs, strict=True):
            probabilities = dict(zip(classes, [round(value, 6) for value in row], strict=True))
            request_id = self.next_request_id()
            klass = classes[chosen]
            results.append({
                "request_id": request_id, "triage_class": klass, "label_es": labels[chosen],
                "probabilities": probabilities, "specialist_review": review,
                "message": model.review_message if review else None,
                "orphan": None if orphan is None else {"probability": probabilities["orphan"],
                                                       "threshold": threshold, "compatible": chosen == orphan},
                "model": lineage,
            })
            output = {"triage_class": klass, "probabilities": probabilities, "specialist_review": review}
            logged = model.contract.canonical(record)  # the codes the model saw, whatever the caller spelled
            log_lines.append(predlog.record(request_id, now, env, lineage, visit_ref, logged, output, latency_ms))
            recent.append({"request_id": request_id, "time": now, "triage_class": klass, "specialist_review": review})
            counts[klass] += 1
        self.log.append_many(log_lines)
        self.metrics.observe_predictions(results)
        self.recent.extend(recent)
        return results

    def visit_refs(self, visit_ids: object, count: int, field: str) -> list[str | None]:
        """Keyed pseudonyms of the caller's visit ids (so labels that arrive later can be joined to predictions);
        the ids themselves are never logged."""
        if not isinstance(visit_ids, list) or len(visit_ids) != count:
            raise InvalidRequest([{"field": field, "rule": f"a list of {count} visit ids, one per patient",
                                   "value": None}])
        if self._pseudonym_key is None:
            raise InvalidRequest([{"field": field, "rule": "visit ids are accepted only when the service has a "
                                   "pseudonymisation key (TRIAGE_PSEUDONYM_KEY)", "value": None}])
        refs = []
        for position, visit_id in enumerate(visit_ids):
            if not isinstance(visit_id, str) or not 1 <= len(visit_id.strip()) <= MAX_VISIT_ID:
                raise InvalidRequest([{"field": f"{field}[{position}]" if count > 1 or field != VISIT_HEADER
                                       else field, "rule": f"a visit id of 1 to {MAX_VISIT_ID} characters",
                                       "value": visit_id if isinstance(visit_id, str | int) else None}])
            refs.append(pseudonym(self._pseudonym_key, visit_id.strip()))
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

    def close(self) -> None:
        self.batcher.close()
        self.log.close()
