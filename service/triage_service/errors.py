"""The service's errors and the one handler that turns them into responses.

Handlers and the predictor raise an `ApiError` (its status, detail and headers); `install` registers the single
exception handler that answers `{"detail": ...}` with that status, so no handler formats its own error.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response


def json_response(content, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json", headers=headers)


def problem(status: int, detail, headers: dict | None = None) -> Response:
    return json_response({"detail": detail}, status, headers)


class ApiError(Exception):
    status = 500

    def __init__(self, detail, headers: dict | None = None):
        super().__init__(detail if isinstance(detail, str) else f"{len(detail)} problem(s)")
        self.detail = detail
        self.headers = headers


class Unauthorized(ApiError):
    status = 401

    def __init__(self, detail: str = "missing API key: send it in the X-API-Key header"):
        super().__init__(detail, {"WWW-Authenticate": "ApiKey"})


class Forbidden(ApiError):
    status = 403


class PayloadTooLarge(ApiError):
    status = 413


class InvalidRequest(ApiError):
    """422: `errors` lists each field, rule and value."""

    status = 422

    def __init__(self, errors: list[dict]):
        super().__init__(errors)
        self.errors = errors


class NotReady(ApiError):
    status = 503

    def __init__(self, detail: str = "model not loaded"):
        super().__init__(detail, {"Retry-After": "5"})


async def handle_api_error(request: Request, error: ApiError) -> Response:
    return problem(error.status, error.detail, error.headers)


def install(app) -> None:
    app.add_exception_handler(ApiError, handle_api_error)
