"""`python -m triage_service`: validate the configuration, then serve with uvicorn (uvloop, httptools)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from .app import create_app
from .server import guarded_protocol
from .settings import ConfigError, Settings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"triage-service: configuration error: {error}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, loop="uvloop",
                http=guarded_protocol(settings.header_timeout_s, settings.max_connections), access_log=False,
                log_level="info", timeout_graceful_shutdown=10, timeout_keep_alive=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
