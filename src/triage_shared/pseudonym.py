"""Keyed pseudonyms of identifiers: HMAC-SHA256 with the deployment's secret key, truncated to 24 hex characters.

Ingest hashes every identifier column with it, the service hashes the visit ids callers send (it logs only the
hash), and the monitor hashes the visit ids of a labelled extract to join them with the log: one function, one key.
"""

from __future__ import annotations

import hashlib
import hmac

KEY_VARIABLE = "TRIAGE_PSEUDONYM_KEY"
DEVELOPMENT_KEY = "triage-development-key-for-the-simulated-cohort-only"  # public: the simulator's own files only
PSEUDONYM_CHARS = 24


def pseudonym(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS]
