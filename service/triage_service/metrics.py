"""Prometheus metrics of the service (one registry per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter("triage_http_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=registry)
        self.latency = Histogram("triage_http_request_seconds", "Request latency by endpoint", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.shed = Counter("triage_requests_shed", "Requests refused with 503 under overload", registry=registry)
        self.predictions = Counter("triage_predictions", "Predictions by triage class", ["triage_class"],
                                   registry=registry)
        self.reviews = Counter("triage_specialist_review", "Predictions flagged for specialist review",
                               registry=registry)
        self.review_share_gauge = Gauge("triage_specialist_review_share", "Share of predictions flagged for review",
                                        registry=registry)
        self.model_info = Gauge("triage_model_info", "The model being served (value 1)",
                                ["name", "version", "stage", "sha256"], registry=registry)
        self.reloads = Counter("triage_model_reloads", "Model loads by outcome", ["outcome"], registry=registry)
        self._total = 0
        self._reviewed = 0
        self._class_children: dict = {}

    def observe_predictions(self, results: list[dict]) -> None:
        for result in results:
            child = self._class_children.get(result["triage_class"])
            if child is None:
                child = self._class_children[result["triage_class"]] = self.predictions.labels(result["triage_class"])
            child.inc()
            if result["specialist_review"]:
                self.reviews.inc()
                self._reviewed += 1
        self._total += len(results)
        self.review_share_gauge.set(self.review_share())

    def review_share(self) -> float:
        return self._reviewed / self._total if self._total else 0.0

    def set_model(self, lineage: dict) -> None:
        self.model_info.clear()
        self.model_info.labels(lineage["name"], str(lineage["version"]), str(lineage["stage"]),
                               lineage["sha256"][:16]).set(1)
