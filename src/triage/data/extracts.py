"""Raw extracts on disk: finding them, reading them as text with their provenance, and telling simulated from real.

Every value is read as text, so nothing is coerced silently. Every row carries a record id naming its source file
(relative to the repository) and its physical line in a CSV (a quoted value may span lines) or its row in a Parquet
file, so two extracts called `extract.csv` in different folders never collide and a quarantined row can be found.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from triage.errors import UserError

SIMULATED_MARKER = "_SIMULATED.json"  # written by the simulate stage beside its extracts: name -> sha256
EXTRACT_SUFFIXES = {".csv", ".parquet"}
RECORD_ID = "record_id"
ROW_FAULT_COLUMN = "(row)"  # parse errors about a whole row (wrong number of fields)


class ExtractError(UserError, ValueError):
    """An extract (or the set of them) that cannot be used as a whole: the message names the file and the rule."""


@dataclass
class Extract:
    path: Path
    frame: pd.DataFrame  # text columns as in the file, plus record_id
    row_faults: list[dict]  # {record_id, column, rule, value}


def list_extracts(directory: Path, required: bool = True) -> list[Path]:
    if not directory.is_dir():
        if required:
            raise ExtractError(f"raw source {directory} does not exist (params: data.raw_dir)")
        return []
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in EXTRACT_SUFFIXES and p.is_file()
                   and not p.name.startswith(("_", ".")))
    if required and not paths:
        raise ExtractError(f"no extracts (*.csv, *.parquet) under {directory}")
    return paths


def shown_path(path: Path) -> str:
    """The path as record ids and reports name it: relative to the working directory (the repository) if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def unique_header(names: list[str], path: Path) -> list[str]:
    """Header cells stripped; an empty one is called column_<position>; a repeated one is refused."""
    header = [name.strip() or f"column_{position}" for position, name in enumerate(names, start=1)]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ExtractError(f"{shown_path(path)}: column(s) {repeated} appear more than once in the header "
                           "(rule: one column per name)")
    return header


def read_csv_text(path: Path) -> Extract:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ExtractError(f"{shown_path(path)} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not text.strip():
        raise ExtractError(f"{shown_path(path)} is empty (no header row)")
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
    header = unique_header(next(reader), path)
    name = shown_path(path)
    rows, record_ids, faults = [], [], []
    line = reader.line_num
    for fields in reader:
        first_line, line = line + 1, reader.line_num
        if not any(field.strip() for field in fields):
            continue  # a blank line is not a record
        record_id = f"{name}:{first_line}"
        if len(fields) != len(header):
            faults.append({RECORD_ID: record_id, "column": ROW_FAULT_COLUMN,
                           "rule": f"fields: the header has {len(header)}, this row {len(fields)}",
                           "value": str(len(fields))})
            fields = (fields + [""] * len(header))[: len(header)]
        rows.append(fields)
        record_ids.append(record_id)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    frame[RECORD_ID] = record_ids
    return Extract(path, frame, faults)


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma by default; semicolon, tab or pipe when the header says so (spreadsheet exports in Spanish locales)."""
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def read_parquet_text(path: Path) -> Extract:
    frame = pd.read_parquet(path)
    header = unique_header([str(c) for c in frame.columns], path)
    frame.columns = header
    frame = frame.astype(object).where(frame.notna(), "").astype(str).astype(object)
    frame[RECORD_ID] = [f"{shown_path(path)}#row{i + 1}" for i in range(len(frame))]
    return Extract(path, frame.reset_index(drop=True), [])


def read_extract(path: Path) -> Extract:
    if path.suffix.lower() == ".csv":
        return read_csv_text(path)
    try:
        return read_parquet_text(path)
    except (OSError, ValueError) as error:
        raise ExtractError(f"{shown_path(path)}: cannot read as Parquet ({error})") from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_simulated_marker(directory: Path, extracts: list[Path], details: dict) -> Path:
    marker = directory / SIMULATED_MARKER
    marker.write_text(json.dumps({**details, "simulated": True,
                                  "extracts": {p.name: file_sha256(p) for p in extracts}}, indent=2) + "\n",
                      encoding="utf-8")
    return marker


def is_simulated(path: Path) -> bool:
    """True only for a file the simulator wrote: named, with its exact content, in the marker beside it."""
    marker = path.parent / SIMULATED_MARKER
    if not marker.is_file():
        return False
    try:
        listed = json.loads(marker.read_text(encoding="utf-8")).get("extracts", {})
    except (OSError, ValueError):
        return False
    return isinstance(listed, dict) and listed.get(path.name) == file_sha256(path)
