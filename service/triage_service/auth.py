"""API keys: the X-API-Key header against every configured key, compared in constant time."""

from __future__ import annotations

import secrets

from starlette.requests import Request

from .errors import Forbidden, Unauthorized

API_KEY_HEADER = "x-api-key"


class ApiKeys:
    def __init__(self, keys: tuple[str, ...]):
        self._keys = [key.encode() for key in keys]

    def check(self, request: Request) -> None:
        """Raises Unauthorized (no key) or Forbidden (a key that is not accepted)."""
        supplied = request.headers.get(API_KEY_HEADER)
        if not supplied:
            raise Unauthorized()
        supplied_bytes = supplied.encode()
        accepted = False
        for key in self._keys:  # compare with every key, in constant time, whatever matches
            accepted |= secrets.compare_digest(supplied_bytes, key)
        if not accepted:
            raise Forbidden("API key not accepted")
