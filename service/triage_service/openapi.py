"""The OpenAPI document, written here for every route (the routes are plain Starlette routes), with every status each
endpoint can return and the schema of every body: the request contract comes with the served model's manifest, and
refusals are RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

from .errors import PROBLEM_JSON
from .predictor import MAX_VISIT_ID, VISIT_HEADER

STATUS_TEXT = {
    "200": "OK",
    "401": "missing API key (or metrics token)",
    "403": "API key not accepted",
    "404": "metrics are off (no TRIAGE_METRICS_TOKEN)",
    "408": "the request body did not arrive within TRIAGE_BODY_TIMEOUT_S",
    "409": "the new model was refused; the current one keeps serving",
    "413": "request body over TRIAGE_MAX_BODY_BYTES, or a batch over TRIAGE_MAX_BATCH",
    "415": "the body is not application/json",
    "422": "invalid input: each field, rule and value (the first 20), and how many there were",
    "431": "request headers over TRIAGE_MAX_HEADER_BYTES",
    "503": "model not loaded, or overloaded (Retry-After)",
    "504": "the request took longer than TRIAGE_REQUEST_TIMEOUT_S",
}
PROBLEM = {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "limit": {"type": "number"}, "error_count": {"type": "integer"},
    "errors": {"type": "array", "items": {"type": "object", "required": ["field", "rule"], "properties": {
        "field": {"type": "string"}, "rule": {"type": "string"}, "value": {}}}}}}
LINEAGE = {"type": "object", "required": ["name", "version", "sha256"], "properties": {
    "name": {"type": "string"}, "version": {"type": ["string", "null"]}, "stage": {"type": ["string", "null"]},
    "git_revision": {"type": ["string", "null"]}, "training_data_md5": {"type": ["string", "null"]},
    "contract": {"type": "string"}, "sha256": {"type": "string"}}}
VISIT_IDS = {
    "type": "array", "items": {"type": "string", "minLength": 1, "maxLength": MAX_VISIT_ID, "pattern": r"\S"},
    "description": "Optional, one per patient: the caller's visit ids, logged only as keyed hashes so that labels "
                   "arriving later can be joined to the predictions. Needs TRIAGE_PSEUDONYM_KEY on the server."}
VISIT_HEADER_DOC = {"name": VISIT_HEADER, "in": "header", "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_VISIT_ID, "pattern": r"\S"},
                    "description": VISIT_IDS["description"]}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def responses(ok_schema: dict, statuses: tuple[str, ...], ok_media: str = "application/json") -> dict:
    out = {"200": {"description": "OK", "content": {ok_media: {"schema": ok_schema}}}}
    for code in statuses:
        entry: dict = {"description": STATUS_TEXT[code], "content": {PROBLEM_JSON: {"schema": ref("Problem")}}}
        if code == "503":
            entry["headers"] = RETRY_AFTER
        if code == "401":
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[code] = entry
    return out


def operation(summary: str, tag: str, ok_schema: dict, statuses: tuple[str, ...], body: str | None = None,
              secured: bool = False, extra: dict | None = None, ok_media: str = "application/json") -> dict:
    entry: dict = {"tags": [tag], "summary": summary,
                   "responses": {**responses(ok_schema, statuses, ok_media), **(extra or {})}}
    if body:
        entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if secured:
        entry["security"] = [{"ApiKey": []}]
    return entry


ANY_OBJECT = {"type": "object"}
TEXT = {"type": "string"}
POST_REFUSALS = ("401", "403", "408", "413", "415", "422", "431", "503", "504")
PATHS = {
    "/healthz": {"get": operation("Process alive", "health", {"type": "object", "properties": {
        "status": {"const": "alive"}}}, ("504",))},
    "/readyz": {"get": operation("Model loaded and verified", "health", {"type": "object", "properties": {
        "status": {"const": "ready"}, "model": LINEAGE}}, ("503", "504"))},
    "/v1/model": {"get": operation("The served model's manifest", "model", ANY_OBJECT, ("503", "504"))},
    "/v1/predict": {"post": operation("Triage one patient", "predict", ref("Prediction"), POST_REFUSALS,
                                      "Patient", True)},
    "/v1/predict/batch": {"post": operation("Triage a batch of patients", "predict", {
        "type": "object", "required": ["predictions"],
        "properties": {"predictions": {"type": "array", "items": ref("Prediction")}}}, POST_REFUSALS, "Batch",
        True)},
    "/v1/stats": {"get": operation("Counts per class and recent predictions", "model", ANY_OBJECT,
                                   ("401", "403", "503", "504"), secured=True)},
    "/admin/reload": {"post": operation(
        "Load, verify and swap in the environment's current model", "admin", ref("Reload"),
        ("401", "403", "408", "413", "431", "503", "504"), secured=True,
        extra={"409": {"description": STATUS_TEXT["409"],
                       "content": {"application/json": {"schema": ref("Reload")}}}})},
    "/metrics": {"get": {**operation("Prometheus metrics (Authorization: Bearer <TRIAGE_METRICS_TOKEN>)", "health",
                                     TEXT, ("401", "404", "504"), ok_media="text/plain"),
                         "security": [{"MetricsToken": []}]}},
    "/": {"get": operation("The clinicians' form (Spanish)", "form", TEXT, ("504",), ok_media="text/html")},
}


def prediction_schema(classes: list[str]) -> dict:
    probabilities = {"type": "object", "required": classes, "additionalProperties": False,
                     "properties": {c: {"type": "number", "minimum": 0, "maximum": 1} for c in classes}}
    orphan = {"type": "object", "required": ["probability", "threshold", "compatible"], "properties": {
        "probability": {"type": "number"}, "threshold": {"type": "number"}, "compatible": {"type": "boolean"}}}
    return {"type": "object", "required": ["request_id", "triage_class", "label_es", "probabilities",
                                           "specialist_review", "message", "orphan", "model"],
            "properties": {"request_id": {"type": "string"}, "triage_class": {"enum": classes},
                           "label_es": {"type": "string"}, "probabilities": probabilities,
                           "specialist_review": {"type": "boolean"}, "message": {"type": ["string", "null"]},
                           "orphan": {"oneOf": [orphan, {"type": "null"}]}, "model": LINEAGE}}


def document(title: str, version: str, description: str, patient_schema: dict | None, classes: list[str] | None,
             max_batch: int, visit_ids: bool) -> dict:
    """The document of this configuration: `visit_ids` (a pseudonymisation key is set) adds the X-Visit-Id header
    and the batch's `visit_ids`, which are refused (422) without one."""
    schemas: dict = {"Problem": PROBLEM, "Reload": {"type": "object", "required": ["reloaded"], "properties": {
        "reloaded": {"type": "boolean"}, "reason": {"type": "string"},
        "serving": {"oneOf": [LINEAGE, {"type": "null"}]}}}}
    if patient_schema is not None and classes is not None:
        schemas["Patient"] = patient_schema
        batch = {"patients": {"type": "array", "maxItems": max_batch, "items": ref("Patient")}}
        schemas["Batch"] = {"type": "object", "required": ["patients"], "additionalProperties": False,
                            "properties": {**batch, "visit_ids": VISIT_IDS} if visit_ids else batch}
        schemas["Prediction"] = prediction_schema(classes)
    paths = PATHS
    if visit_ids:
        single = PATHS["/v1/predict"]["post"]
        paths = {**PATHS, "/v1/predict": {"post": {**single, "parameters": [VISIT_HEADER_DOC]}}}
    return {"openapi": "3.1.0", "info": {"title": title, "version": version, "description": description},
            "paths": paths, "components": {"schemas": schemas, "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "MetricsToken": {"type": "http", "scheme": "bearer"}}}}
