"""Which extracts the simulator wrote: a marker file beside them names each one with its sha256, so ingest can tell
a simulated extract (pseudonymised with the public development key) from a hospital's (which needs a secret key)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from triage.data.locations import Location, is_remote

SIMULATED_MARKER = "_SIMULATED.json"  # written by the simulate stage beside its extracts: name -> sha256


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_simulated_marker(directory: Path, extracts: list[Path], details: dict) -> Path:
    marker = directory / SIMULATED_MARKER
    marker.write_text(json.dumps({**details, "simulated": True,
                                  "extracts": {p.name: file_sha256(p) for p in extracts}}, indent=2) + "\n",
                      encoding="utf-8")
    return marker


def is_simulated(path: Location) -> bool:
    """True only for a file the simulator wrote: named, with its exact content, in the marker beside it (never an
    object in a bucket: the simulator writes local files)."""
    if is_remote(path):
        return False
    marker = path.parent / SIMULATED_MARKER
    if not marker.is_file():
        return False
    try:
        listed = json.loads(marker.read_text(encoding="utf-8")).get("extracts", {})
    except (OSError, ValueError):
        return False
    return isinstance(listed, dict) and listed.get(path.name) == file_sha256(path)
