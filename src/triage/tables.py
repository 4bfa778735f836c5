"""Small helpers to read and write the pipeline's tables and JSON files."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) gets a leading
    apostrophe; plain numbers such as -1.5 are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Every CSV the project writes goes through here (or `write_csv_blocks`): text cells neutralised, numbers
    untouched."""
    write_csv_blocks([frame], path)


def write_csv_blocks(frames: Iterable[pd.DataFrame], path: Path) -> None:
    """Frames with the same columns written one after the other into one CSV (the header once), so a table larger
    than memory is written a block at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        for index, frame in enumerate(frames):
            safe = frame.copy()
            for column in safe.columns:
                if not pd.api.types.is_numeric_dtype(safe[column]) and \
                        not pd.api.types.is_datetime64_any_dtype(safe[column]):
                    safe[column] = safe[column].map(spreadsheet_safe)
            safe.columns = [spreadsheet_safe(str(c)) for c in safe.columns]
            safe.to_csv(out, index=False, header=index == 0)


def write_json(data: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_plain) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars and paths."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


SCORING_BATCH_ROWS = 50_000  # rows scored at once: every scorer's temporaries stay bounded (the Bayes posterior
                             # holds rows x diseases matrices), whatever the size of the test part


Batches = Callable[[], Iterator[pd.DataFrame]]  # a part read as consecutive frames, afresh on each call


def frame_batches(frame: pd.DataFrame, rows: int = SCORING_BATCH_ROWS) -> Batches:
    """A frame in memory as the same batches `triage.data.parts.batches` gives of an output."""
    return lambda: (frame.iloc[start:start + rows] for start in range(0, len(frame), rows))
