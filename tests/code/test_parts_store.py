"""A stage's output kept in a store (triage.data.parts), here a local folder standing for a shared mount (the
bucket's case runs on SeaweedFS in tests/executors/test_store.py): parts named by content and never rewritten, a
manifest that is the same bytes for the same parts, and a part the store lost refused by name."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from triage.data import parts
from triage.data.columns import LABEL_COLUMN
from triage.data.resample import read_class_aware_sample


def frame(rows: int, start: int = 0) -> pd.DataFrame:
    labels = ["no_disease", "common", "orphan"]
    return pd.DataFrame({"visit_id": [f"v{i}" for i in range(start, start + rows)],
                         "age": [float(i % 90) for i in range(start, start + rows)],
                         LABEL_COLUMN: [labels[(i % 7 == 0) + (i % 31 == 0)] for i in range(start, start + rows)]})


def stored_output(tmp_path, name: str, frames: list[pd.DataFrame]) -> tuple:
    store = str(tmp_path / "store")
    entries = []
    for index, part in enumerate(frames):
        local = tmp_path / f"{name}-{index}.parquet"
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), local)
        entries.append(parts.put_part(local, store, len(part)))
    output = tmp_path / f"{name}.parquet"
    parts.write_manifest(output, store, entries)
    return output, entries


def test_the_rows_read_back_in_order_from_the_manifest(tmp_path):
    pieces = [frame(300), frame(1, 300), frame(450, 301)]
    output, entries = stored_output(tmp_path, "train", pieces)
    whole = pd.concat(pieces, ignore_index=True)
    assert [path.name for path in output.iterdir()] == [parts.MANIFEST]
    assert parts.read_frame(output).equals(whole)
    assert parts.read_frame(output, ["age"]).equals(whole[["age"]])
    assert parts.read_manifest(output)["rows"] == 751
    assert all(entry["object"].endswith(f"/parts/{entry['sha256']}.parquet") for entry in entries)
    sample = read_class_aware_sample([output], 200, seed=5)
    single = tmp_path / "single.parquet"
    whole.to_parquet(single, index=False)
    assert sample.equals(read_class_aware_sample([single], 200, seed=5))


def test_the_same_parts_give_the_same_manifest_and_upload_nothing_new(tmp_path):
    output, entries = stored_output(tmp_path, "first", [frame(100), frame(50, 100)])
    objects = {entry["object"]: os.stat(entry["object"]).st_mtime_ns for entry in entries}
    again, _ = stored_output(tmp_path, "second", [frame(100), frame(50, 100)])
    assert (output / parts.MANIFEST).read_bytes() == (again / parts.MANIFEST).read_bytes()
    assert {uri: os.stat(uri).st_mtime_ns for uri in objects} == objects
    assert parts.output_digest(output) == parts.output_digest(again)
    changed, _ = stored_output(tmp_path, "third", [frame(100), frame(50, 101)])
    assert parts.output_digest(changed) != parts.output_digest(output)


def test_a_part_the_store_lost_or_changed_is_refused_by_name(tmp_path):
    output, entries = stored_output(tmp_path, "valid", [frame(100), frame(80, 100)])
    lost = entries[1]["object"]
    os.remove(lost)
    with pytest.raises(parts.MissingPart, match=f"part {lost} does not exist"):
        parts.read_frame(output)
    with open(lost, "wb") as handle:
        handle.write(b"PAR1 not the part")
    with pytest.raises(parts.MissingPart, match=rf"has 17 bytes \(expected {entries[1]['bytes']} bytes\)"):
        list(parts.batches(output, ["age"])())


def test_a_missing_output_is_refused_by_name(tmp_path):
    with pytest.raises(parts.UserError, match="no_such.parquet: no such output"):
        parts.read_frame(tmp_path / "no_such.parquet")
