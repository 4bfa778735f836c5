"""Raw extracts on disk: finding them, reading them as text with their provenance, and telling simulated from real.

Every value is read as text, so nothing is coerced silently. Every row carries a record id naming its source file
(relative to the repository) and its physical line in a CSV (a quoted value may span lines) or its row in a Parquet
file, so two extracts called `extract.csv` in different folders never collide and a quarantined row can be found.

A CSV is parsed as RFC 4180 (doubled quotes, quoted separators and newlines) whatever its header looks like; only the
separator is detected. A row with the wrong number of fields keeps its record id and its fault, never its cells.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from triage.errors import UserError

SIMULATED_MARKER = "_SIMULATED.json"  # written by the simulate stage beside its extracts: name -> sha256
EXTRACT_SUFFIXES = {".csv", ".parquet"}
RECORD_ID = "record_id"
ROW_FAULT_COLUMN = "(row)"  # parse errors about a whole row (wrong number of fields)
DELIMITERS = (",", ";", "\t", "|")  # in order of preference when two split the header alike
RFC4180 = {"quotechar": '"', "doublequote": True, "skipinitialspace": False, "strict": False}
SNIFF_CHARS = 1 << 16  # the delimiter is detected on the start of the file...
SNIFF_RECORDS = 50  # ... at most this many records


class ExtractError(UserError, ValueError):
    """An extract (or the set of them) that cannot be used as a whole: the message names the file and the rule."""


@dataclass
class Extract:
    path: Path
    frame: pd.DataFrame  # text columns as in the file, plus record_id
    row_faults: list[dict]  # {record_id, column, rule, value}


class CsvReader(Protocol):
    """What csv.reader returns: records, and the physical line it has read up to."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


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
    """A CSV read as RFC 4180 text whatever its header looks like; only the separator is detected."""
    text = _decoded(path)
    name = shown_path(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=detect_delimiter(text), **RFC4180)
    try:
        header = unique_header(next(reader), path)
        rows, record_ids, faults = _records(reader, header, name)
    except csv.Error as error:
        raise ExtractError(f"{name}: line {reader.line_num} cannot be read as CSV ({error})") from None
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    frame[RECORD_ID] = pd.Series(record_ids, index=frame.index, dtype=object)
    return Extract(path, frame, faults)


def _decoded(path: Path) -> str:
    """The file as text: UTF-8, with or without the byte order mark spreadsheets write."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ExtractError(f"{shown_path(path)} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not text.strip():
        raise ExtractError(f"{shown_path(path)} is empty (no header row)")
    return text


def _records(reader: CsvReader, header: list[str], name: str) -> tuple[list[list[str]], list[str], list[dict]]:
    """The data records, their record ids (file and first physical line) and the faults of malformed ones.

    A record whose field count differs from the header's is kept (so it is counted and quarantined, never lost) but
    none of its cells are: a missing or extra field shifts every later value into another column, so a name or an
    identifier could land in a column that is written in clear. Its fault carries no value for the same reason."""
    rows, record_ids, faults = [], [], []
    line = reader.line_num
    for fields in reader:
        first_line, line = line + 1, reader.line_num
        if not any(field.strip() for field in fields):
            continue  # a blank line is not a record
        record_id = f"{name}:{first_line}"
        if len(fields) != len(header):
            faults.append({RECORD_ID: record_id, "column": ROW_FAULT_COLUMN,
                           "rule": f"fields: the header has {len(header)}, this row {len(fields)} (its cells are "
                                   "not read)", "value": None})
            fields = [""] * len(header)
        rows.append(fields)
        record_ids.append(record_id)
    return rows, record_ids, faults


def detect_delimiter(text: str) -> str:
    """The separator of a CSV: of `,` `;` tab `|`, the one the first records agree on, then the one that splits the
    header into the most fields (quotes respected); a comma when none splits it.

    Only the separator is guessed. csv.Sniffer also guesses the quoting, and on a header without quotes it decides
    that `""` is no escaped quote, which splits every value such as `"=HYPERLINK(""http://x"") Smith, Jr."` in two
    and shifts the rest of the row; every spreadsheet, pandas and R export doubles quotes (RFC 4180)."""
    sample = text[:SNIFF_CHARS]
    truncated = len(text) > SNIFF_CHARS
    return max(DELIMITERS, key=lambda delimiter: _delimiter_score(sample, delimiter, truncated))


def _delimiter_score(sample: str, delimiter: str, truncated: bool) -> tuple[int, int, int]:
    """(records with the header's field count, header fields, preference): compared as a tuple, larger is better."""
    preference = -DELIMITERS.index(delimiter)
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, **RFC4180)
    try:
        records = [r for r in itertools.islice(reader, SNIFF_RECORDS) if any(field.strip() for field in r)]
    except csv.Error:
        return (-1, 0, preference)
    if truncated and len(records) > 1:
        records = records[:-1]  # the sample may end inside the last record
    width = len(records[0]) if records else 0
    if width < 2:
        return (0, 0, preference)
    return (sum(len(record) == width for record in records[1:]), width, preference)


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
