"""The service's errors and the one handler that turns them into responses: RFC 9457 problem details everywhere.

Handlers, the predictor and the request contract raise an `ApiError`; `install` registers the single exception
handler that answers `application/problem+json` — type, title, status, detail, and extension members (`errors`, each
field with its rule and value, at most MAX_LISTED of them with `error_count` the total; `limit` where a limit was
passed), and the router's own 404 and 405. The guard middleware answers its own refusals (overload, time limits,
header and body size) in the same format.
"""

from __future__ import annotations

from http import HTTPStatus

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
MAX_LISTED = 20  # errors listed in a 422; the rest are counted (a request with 200,000 bad fields gets a small answer)


def json_response(content, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json", headers=headers)


def problem_body(status: int, detail: str, **extensions) -> bytes:
    return orjson.dumps({"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                         "detail": detail, **extensions})


def problem(status: int, detail: str, headers: dict | None = None, **extensions) -> Response:
    return Response(problem_body(status, detail, **extensions), status_code=status, media_type=PROBLEM_JSON,
                    headers=headers)


class ApiError(Exception):
    status = 500

    def __init__(self, detail: str, headers: dict | None = None, **extensions):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


class Unauthorized(ApiError):
    status = 401

    def __init__(self, detail: str = "missing API key: send it in the X-API-Key header"):
        super().__init__(detail, {"WWW-Authenticate": "ApiKey"})


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class NotReady(ApiError):
    status = 503

    def __init__(self, detail: str = "model not loaded"):
        super().__init__(detail, {"Retry-After": "5"})


class ErrorList:
    """Problems with a request: the first MAX_LISTED kept, all of them counted."""

    def __init__(self) -> None:
        self.listed: list[dict] = []
        self.count = 0

    def add(self, field: str, rule: str, value=None) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append({"field": field, "rule": rule, "value": value})

    def __bool__(self) -> bool:
        return self.count > 0


class InvalidRequest(ApiError):
    """422: each field, rule and value (the first MAX_LISTED), and how many there were."""

    status = 422

    def __init__(self, errors: ErrorList | list[dict]):
        listed = errors.listed if isinstance(errors, ErrorList) else errors
        count = errors.count if isinstance(errors, ErrorList) else len(errors)
        shown = "" if count <= len(listed) else f"; the first {len(listed)} are listed"
        super().__init__(f"{count} problem(s) in the request{shown}", errors=listed, error_count=count)
        self.errors = listed


async def handle_api_error(request: Request, error: ApiError) -> Response:
    return problem(error.status, error.detail, error.headers, **error.extensions)


async def handle_router_error(request: Request, error: HTTPException) -> Response:
    """What the router raises itself (no such path: 404; a path without that method: 405, with Allow), in the same
    format as everything else."""
    detail = {404: f"no endpoint at {request.url.path}",
              405: f"{request.method} is not allowed on {request.url.path}"
                   f" (allowed: {(error.headers or {}).get('Allow', 'none')})"}.get(error.status_code, error.detail)
    return problem(error.status_code, detail, error.headers)


def install(app) -> None:
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(HTTPException, handle_router_error)
