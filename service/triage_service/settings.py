"""Configuration from environment variables only, validated at start with errors that name the variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from triage_shared.bucket import ENVIRONMENTS
from triage_shared.predlog import log_file_name


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    env: str  # dev | prod: which environment's model is served and which prediction log is written
    api_keys: tuple[str, ...]
    model_dir: Path | None  # a local model (development); otherwise the environment's model from the bucket
    bucket: str | None
    s3_endpoint: str | None
    log_dir: Path
    host: str
    port: int
    max_batch: int
    max_inflight: int
    request_timeout_s: float
    log_push_interval_s: float
    stats_recent: int
    pseudonym_key: str | None = None  # HMAC key for visit ids sent with predictions (logged only as keyed hashes)
    max_body_bytes: int = 1 << 20  # a larger request body is refused (413) before it is parsed
    body_timeout_s: float = 15.0  # a body that has not fully arrived by then is refused (408)
    max_header_bytes: int = 8192  # request headers larger than this, names and values together, are refused (431)
    header_timeout_s: float = 10.0  # a connection whose request headers take longer is closed (slow clients)
    max_connections: int = 512  # open connections beyond this are refused at once (never below the fd limit)
    metrics_token: str | None = None  # /metrics needs "Authorization: Bearer <token>"; unset: /metrics is off

    @property
    def log_file(self) -> Path:
        return self.log_dir / log_file_name(self.env)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        environment = env.get("TRIAGE_ENV", "dev")
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"TRIAGE_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
        keys = tuple(k.strip() for k in env.get("TRIAGE_API_KEYS", "").split(",") if k.strip())
        if not keys:
            raise ConfigError("TRIAGE_API_KEYS must list at least one API key (comma-separated)")
        if any(len(k) < 16 for k in keys):
            raise ConfigError("TRIAGE_API_KEYS: every key must be at least 16 characters long")
        model_dir = Path(env["TRIAGE_MODEL_DIR"]) if env.get("TRIAGE_MODEL_DIR") else None
        bucket = env.get("TRIAGE_BUCKET") or None
        if model_dir is None and bucket is None:
            raise ConfigError("set TRIAGE_MODEL_DIR (a local model.onnx + manifest.json) or TRIAGE_BUCKET (serve the "
                              "model published for TRIAGE_ENV)")
        if model_dir is not None and not model_dir.is_dir():
            raise ConfigError(f"TRIAGE_MODEL_DIR={model_dir} is not a directory")
        return cls(
            env=environment, api_keys=keys, model_dir=model_dir, bucket=bucket,
            s3_endpoint=env.get("TRIAGE_S3_ENDPOINT") or None,
            log_dir=Path(env.get("TRIAGE_LOG_DIR", ".")),
            host=env.get("TRIAGE_HOST", "127.0.0.1"),
            port=_number(env, "TRIAGE_PORT", 8000, int, 1, 65535),
            max_batch=_number(env, "TRIAGE_MAX_BATCH", 256, int, 1, 100_000),
            max_inflight=_number(env, "TRIAGE_MAX_INFLIGHT", 64, int, 1, 100_000),
            request_timeout_s=_number(env, "TRIAGE_REQUEST_TIMEOUT_S", 5.0, float, 0.01, 600),
            log_push_interval_s=_number(env, "TRIAGE_LOG_PUSH_INTERVAL_S", 60.0, float, 0, 86_400),
            stats_recent=_number(env, "TRIAGE_STATS_RECENT", 20, int, 0, 10_000),
            pseudonym_key=_pseudonym_key(env),
            max_body_bytes=_number(env, "TRIAGE_MAX_BODY_BYTES", 1 << 20, int, 1024, 1 << 30),
            body_timeout_s=_number(env, "TRIAGE_BODY_TIMEOUT_S", 15.0, float, 0.1, 600),
            max_header_bytes=_number(env, "TRIAGE_MAX_HEADER_BYTES", 8192, int, 1024, 1 << 20),
            header_timeout_s=_number(env, "TRIAGE_HEADER_TIMEOUT_S", 10.0, float, 0.1, 600),
            max_connections=_connection_cap(_number(env, "TRIAGE_MAX_CONNECTIONS", 512, int, 8, 1_000_000)),
            metrics_token=_secret(env, "TRIAGE_METRICS_TOKEN"),
        )


def _number(env: dict[str, str], name: str, default, kind, low, high):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def _pseudonym_key(env: dict[str, str]) -> str | None:
    return _secret(env, "TRIAGE_PSEUDONYM_KEY")


def _secret(env: dict[str, str], name: str) -> str | None:
    value = env.get(name) or None
    if value is not None and len(value) < 16:
        raise ConfigError(f"{name} must be at least 16 characters long")
    return value


def _connection_cap(configured: int) -> int:
    """Never more open connections than the process may open files: the prediction log, the model and the bucket
    need descriptors too (64 are kept for them)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return configured if soft == resource.RLIM_INFINITY else max(8, min(configured, soft - 64))
