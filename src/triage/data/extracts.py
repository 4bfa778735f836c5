"""Raw extracts on disk: finding them, reading them as text with their provenance, and telling simulated from real.

Every value is read as text, so nothing is coerced silently. Every row carries a record id naming its source file
(relative to the repository) and its physical line in a CSV (a quoted value may span lines) or its row in a Parquet
file, so two extracts called `extract.csv` in different folders never collide and a quarantined row can be found.

A CSV is parsed as RFC 4180 (doubled quotes, quoted separators and newlines) whatever its header looks like; only the
separator is detected. A row with the wrong number of fields keeps its record id and its fault, never its cells.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from triage.data.locations import Location, endpoint, is_remote, list_objects, location, open_binary, suffix
from triage.errors import UserError

EXTRACT_SUFFIXES = {".csv", ".parquet"}
RECORD_ID = "record_id"
ROW_FAULT_COLUMN = "(row)"  # parse errors about a whole row (wrong number of fields)
DELIMITERS = (",", ";", "\t", "|")  # in order of preference when two split the header alike
RFC4180 = {"quotechar": '"', "doublequote": True, "skipinitialspace": False, "strict": False}
SNIFF_CHARS = 1 << 16  # the delimiter is detected on the start of the file...
SNIFF_RECORDS = 50  # ... at most this many records


class ExtractError(UserError, ValueError):
    """An extract (or the set of them) that cannot be used as a whole: the message names the file and the rule."""


class CsvReader(Protocol):
    """What csv.reader returns: records, and the physical line it has read up to."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


def list_extracts(directory: Location, required: bool = True) -> list[Location]:
    """The extracts (CSV, Parquet) under a folder or an object-store prefix, sorted; hidden ones (`_`, `.`) left out."""
    if is_remote(directory):
        return remote_extracts(str(directory), required)
    if not directory.is_dir():
        if required:
            raise ExtractError(f"raw source {directory} does not exist (params: data.raw_dir)")
        return []
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in EXTRACT_SUFFIXES and p.is_file()
                   and not p.name.startswith(("_", ".")))
    if required and not paths:
        raise ExtractError(f"no extracts (*.csv, *.parquet) under {directory}")
    return paths


def pipeline_extracts(data: dict) -> list[Location]:
    """Every extract the ingest stage reads: under params' data.raw_dir (a folder, or s3://bucket/prefix; at least
    one), then under data.incoming_dir when it is set (possibly none yet)."""
    incoming = data.get("incoming_dir")
    return list_extracts(location(data["raw_dir"])) + (
        list_extracts(location(incoming), required=False) if incoming else [])


def remote_extracts(uri: str, required: bool) -> list[Location]:
    try:
        found: list[Location] = list(list_objects(uri, EXTRACT_SUFFIXES))
    except OSError as error:
        raise ExtractError(f"cannot list {uri} (params: data.raw_dir; endpoint {endpoint() or 'AWS'}): "
                           f"{error}") from None
    if required and not found:
        raise ExtractError(f"no extracts (*.csv, *.parquet) under {uri} (params: data.raw_dir)")
    return found


def shown_path(path: Location) -> str:
    """The path as record ids and reports name it: relative to the working directory (the repository) if inside;
    an object by its URI."""
    if is_remote(path):
        return str(path)
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


BATCH_ROWS = 50_000  # records per batch when an extract is streamed: memory does not grow with the extract


@dataclass
class Extract:
    path: Location
    frame: pd.DataFrame  # text columns as in the file, plus record_id
    row_faults: list[dict]  # {record_id, column, rule, value}
    first_row: int = 0  # the position of the frame's first record in its extract (0-based): batches follow on


def read_csv_text(path: Location) -> Extract:
    """A whole CSV read as RFC 4180 text (the batches of `iter_csv_batches` joined)."""
    return joined(path, list(iter_csv_batches(path, rows=1 << 62)))


def joined(path: Location, batches: list[Extract]) -> Extract:
    if len(batches) == 1:
        return batches[0]
    frames = [batch.frame for batch in batches]
    return Extract(path, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
                   [fault for batch in batches for fault in batch.row_faults])


def iter_csv_batches(path: Location, rows: int = BATCH_ROWS, name: str | None = None) -> Iterator[Extract]:
    """A CSV as RFC 4180 text in batches of `rows` records, read as a stream; only the separator is detected (on the
    file's start). A header-only file gives one empty batch, so its columns are still checked. `name`: how record
    ids name the file (default: its path from the working directory; a Spark task runs elsewhere)."""
    name = name or shown_path(path)
    with _opened(path) as handle:
        reader = csv.reader(handle, delimiter=detect_delimiter(_sample(handle, path)), **RFC4180)
        try:
            header = unique_header(next(reader), path)
            first_row, emitted = 0, False
            for records, record_ids, faults in _record_chunks(reader, header, name, rows):
                yield _text_batch(path, header, records, record_ids, faults, first_row)
                first_row, emitted = first_row + len(records), True
            if not emitted:
                yield _text_batch(path, header, [], [], [], 0)
        except csv.Error as error:
            raise ExtractError(f"{name}: line {reader.line_num} cannot be read as CSV ({error})") from None
        except UnicodeDecodeError as error:
            raise ExtractError(f"{name} is not UTF-8 text ({error.reason} near line {reader.line_num})") from None


def _opened(path: Location) -> io.TextIOWrapper:
    """The file (or object) as UTF-8 text (a spreadsheet's byte order mark dropped), newlines left to the CSV
    reader."""
    try:
        return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="")
    except OSError as error:
        raise ExtractError(f"cannot open {shown_path(path)} ({error})") from None


def _sample(handle, path: Location) -> str:
    """The file's start (to detect the separator), the handle rewound; an empty file is refused."""
    try:
        sample = handle.read(SNIFF_CHARS + 1)
    except UnicodeDecodeError as error:
        raise ExtractError(f"{shown_path(path)} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not sample.strip():
        raise ExtractError(f"{shown_path(path)} is empty (no header row)")
    handle.seek(0)
    return sample


def _text_batch(path: Location, header: list[str], records: list[list[str]], record_ids: list[str], faults: list[dict],
                first_row: int) -> Extract:
    frame = pd.DataFrame(records, columns=header, dtype=object) if records else \
        pd.DataFrame(columns=header, dtype=object)
    frame[RECORD_ID] = pd.Series(record_ids, index=frame.index, dtype=object)
    return Extract(path, frame, faults, first_row)


def _record_chunks(reader: CsvReader, header: list[str], name: str, rows: int
                   ) -> Iterator[tuple[list[list[str]], list[str], list[dict]]]:
    """The data records in chunks of `rows`: their fields, record ids (file and first physical line) and the faults
    of malformed ones.

    A record whose field count differs from the header's is kept (so it is counted and quarantined, never lost) but
    none of its cells are: a missing or extra field shifts every later value into another column, so a name or an
    identifier could land in a column that is written in clear. Its fault carries no value for the same reason."""
    records, record_ids, faults = [], [], []
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
        records.append(fields)
        record_ids.append(record_id)
        if len(records) == rows:
            yield records, record_ids, faults
            records, record_ids, faults = [], [], []
    if records:
        yield records, record_ids, faults


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


def iter_parquet_batches(path: Location, rows: int = BATCH_ROWS, name: str | None = None) -> Iterator[Extract]:
    """A Parquet extract as text in batches of `rows` rows (a missing value reads as empty text)."""
    name = name or shown_path(path)
    try:
        parquet = pq.ParquetFile(open_binary(path))
        header = unique_header([str(name) for name in parquet.schema_arrow.names], path)
        first_row, emitted = 0, False
        for batch in parquet.iter_batches(batch_size=rows):
            frame = batch.to_pandas()
            frame.columns = header
            frame = frame.astype(object).where(frame.notna(), "").astype(str).astype(object)
            frame[RECORD_ID] = [f"{name}#row{first_row + i + 1}" for i in range(len(frame))]
            yield Extract(path, frame.reset_index(drop=True), [], first_row)
            first_row, emitted = first_row + len(frame), True
        if not emitted:
            yield _text_batch(path, header, [], [], [], 0)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise ExtractError(f"{name}: cannot read as Parquet ({error})") from None


def read_parquet_text(path: Location) -> Extract:
    return joined(path, list(iter_parquet_batches(path, rows=1 << 30)))


def iter_extract_batches(path: Location, rows: int = BATCH_ROWS, name: str | None = None) -> Iterator[Extract]:
    """An extract (CSV or Parquet, a file or an object) as text batches of at most `rows` records, read as a
    stream."""
    reader = iter_csv_batches if suffix(path) == ".csv" else iter_parquet_batches
    return reader(path, rows, name)


def read_extract(path: Location) -> Extract:
    """A whole extract as text (for small ones: drafting, the monitor's labels); the pipeline streams batches."""
    return read_csv_text(path) if suffix(path) == ".csv" else read_parquet_text(path)
