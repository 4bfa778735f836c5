"""The OpenAPI document, written here for every route (the routes are plain Starlette routes), with the request
schemas of the model being served: the request contract comes with the model's manifest."""

from __future__ import annotations

from .predictor import MAX_VISIT_ID, VISIT_HEADER

JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
STATUS_TEXT = {
    "200": "OK", "401": "missing API key", "403": "API key not accepted", "409": "the new model was refused; the "
    "current one keeps serving", "413": "batch over the limit (TRIAGE_MAX_BATCH)",
    "422": "invalid input: each field, rule and value", "503": "model not loaded, or overloaded (Retry-After)",
    "504": "the request took longer than TRIAGE_REQUEST_TIMEOUT_S",
}
VISIT_IDS_SCHEMA = {
    "type": "array", "items": {"type": "string", "minLength": 1, "maxLength": MAX_VISIT_ID},
    "description": "Optional, one per patient: the caller's visit ids, logged only as keyed hashes so that labels "
                   "arriving later can be joined to the predictions. Needs TRIAGE_PSEUDONYM_KEY on the server."}
VISIT_HEADER_DOC = {"name": VISIT_HEADER, "in": "header", "required": False, "schema": {"type": "string"},
                    "description": VISIT_IDS_SCHEMA["description"]}


def operation(summary: str, tag: str, statuses: tuple[str, ...], body: str | None = None,
              secured: bool = False) -> dict:
    responses = {code: {"description": STATUS_TEXT[code], "content": JSON_OBJECT} for code in statuses}
    entry: dict = {"tags": [tag], "summary": summary, "responses": responses}
    if body:
        entry["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if secured:
        entry["security"] = [{"ApiKey": []}]
    return entry


PREDICT_STATUSES = ("200", "401", "403", "422", "503", "504")
PATHS = {
    "/healthz": {"get": operation("Process alive", "health", ("200",))},
    "/readyz": {"get": operation("Model loaded and verified", "health", ("200", "503", "504"))},
    "/v1/model": {"get": operation("The served model's manifest", "model", ("200", "503", "504"))},
    "/v1/predict": {"post": {**operation("Triage one patient", "predict", PREDICT_STATUSES, "Patient", True),
                             "parameters": [VISIT_HEADER_DOC]}},
    "/v1/predict/batch": {"post": operation("Triage a batch of patients", "predict", (*PREDICT_STATUSES, "413"),
                                            "Batch", True)},
    "/v1/stats": {"get": operation("Counts per class and recent predictions", "model",
                                   ("200", "401", "403", "503", "504"), secured=True)},
    "/admin/reload": {"post": operation("Load, verify and swap in the stage's current model", "admin",
                                        ("200", "401", "403", "409", "503", "504"), secured=True)},
}


def document(title: str, version: str, description: str, patient_schema: dict | None, max_batch: int) -> dict:
    schemas: dict = {}
    if patient_schema is not None:
        schemas["Patient"] = patient_schema
        schemas["Batch"] = {"type": "object", "required": ["patients"], "additionalProperties": False,
                            "properties": {"patients": {"type": "array", "maxItems": max_batch,
                                                        "items": {"$ref": "#/components/schemas/Patient"}},
                                           "visit_ids": VISIT_IDS_SCHEMA}}
    return {"openapi": "3.1.0", "info": {"title": title, "version": version, "description": description},
            "paths": PATHS, "components": {"schemas": schemas, "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}}}
