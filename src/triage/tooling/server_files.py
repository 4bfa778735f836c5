"""Files of the servers the project starts on this machine: a log's last lines for an error message, and a file
only its owner may read (credentials, passwords)."""

from __future__ import annotations

import os
from pathlib import Path


def log_tail(path: Path, lines: int = 15) -> str:
    """The log's last `lines` lines, under a line naming it (or "(no log)")."""
    text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
    return f"last lines of {path}:\n" + "\n".join(text)


def write_private(path: Path, text: str) -> None:
    """`text` into `path` with mode 0600, also when the file existed with another mode."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
