"""How the Spark executor writes and reads the stages' Parquet outputs (triage.data.parts): each task writes its own
partition with pyarrow, never Spark's own writer, and reads parts with pyarrow too.

Without a store, parts are written into the output folder at the path the stage names: enough when every host
sees that path (`local[*]`, a cluster on one machine, a shared mount). With `data.executor.store` (an s3:// prefix
or a folder every host mounts), each task uploads its partition to the store under the sha256 of its bytes, and
the driver writes only the manifest at the stage's path: no task touches the driver's filesystem, so executors may
run on any host (an EMR Serverless job, a multi-host cluster). The tasks get the store's endpoint and keys from the
driver (a worker's environment was fixed when it started).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from triage.data import parts
from triage.data.locations import object_store_settings

Task = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]
WRITTEN = pa.schema([("partition", pa.int32()), ("rows", pa.int64()), ("entry", pa.string())])
URIS_SCHEMA = "uri STRING"


def write_partition(batches: Iterator[pa.RecordBatch], target: Path) -> int:
    """A partition's batches into one Parquet file (none when it has no rows); its row count."""
    writer, rows = None, 0
    for batch in batches:
        if batch.num_rows:
            writer = writer or pq.ParquetWriter(target, batch.schema)
            writer.write_batch(batch)
            rows += batch.num_rows
    if writer is not None:
        writer.close()
    return rows


def part_writer(folder: str, store: str | None, environment: dict[str, str]) -> Task:
    """What each task runs: its partition's rows into one Parquet file by pyarrow, under an attempt's own name, and
    then either moved to `<partition>.written` in the output folder or uploaded to the store by content (a retried or
    killed attempt leaves no half part under a final name). Yields one row: the partition, its rows, and its store
    entry (JSON) when there is a store."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import json

        from pyspark import TaskContext

        os.environ.update(environment)
        task = TaskContext.get()
        scratch = None if store is None else tempfile.TemporaryDirectory(prefix="triage-part-")
        local = Path(scratch.name if scratch else folder) / f"{task.partitionId():05d}.attempt-{task.taskAttemptId()}"
        rows = write_partition(batches, local)
        entry = ""
        if rows and store is not None:
            entry = json.dumps(parts.put_part(local, store, rows), sort_keys=True)
        elif rows:
            os.replace(local, Path(folder) / f"{task.partitionId():05d}.written")
        if scratch is not None:
            scratch.cleanup()
        yield pa.RecordBatch.from_pydict({"partition": [task.partitionId()], "rows": [rows], "entry": [entry]},
                                         schema=WRITTEN)
    return run


def write_parts(frame, out: Path, store: str | None) -> int:
    """Write a Spark DataFrame as the output `out` (a folder of parts, or a store's manifest), the same bytes for
    the same rows on any run, driver or JVM, and return its row count. Spark's own writer named parts by a random
    job UUID, added _SUCCESS and .crc files, and parquet-mr lists a column's encodings in a Java HashSet's order,
    which changes from one JVM to the next: the same rows gave another folder hash, and another dvc.lock, on every
    run. The non-empty parts are named (or listed) in partition order."""
    import json

    from pyspark.sql.pandas.types import to_arrow_schema

    target = Path(out).resolve()
    parts.remove_output(target)
    if store is None:
        target.mkdir(parents=True)
    written = frame.mapInArrow(part_writer(str(target), store, object_store_settings() if store else {}),
                               "partition INT, rows LONG, entry STRING").collect()
    filled = sorted((row for row in written if row["rows"]), key=lambda row: row["partition"])
    empty = to_arrow_schema(frame.schema).empty_table()
    if store is not None:  # no rows at all: one empty part, so that readers still find the columns
        entries = [json.loads(row["entry"]) for row in filled] or [parts.put_table(empty, store)]
        parts.write_manifest(target, store, entries)
        return sum(row["rows"] for row in written)
    for leftover in target.glob("*.attempt-*"):  # an attempt that failed, or lost to another one
        leftover.unlink()
    for index, row in enumerate(filled):
        (target / f"{row['partition']:05d}.written").rename(target / f"part-{index:05d}.parquet")
    if not filled:
        pq.write_table(empty, target / "part-00000.parquet")
    return sum(row["rows"] for row in written)


def part_reader(environment: dict[str, str]) -> Task:
    """What each task runs to read: the parts its partition names, batch by batch."""
    def run(uris: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        os.environ.update(environment)
        for chunk in uris:
            for uri in chunk.column(0).to_pylist():
                filesystem, path = parts.filesystem_of(uri)
                with filesystem.open_input_file(path) as handle:
                    yield from pq.ParquetFile(handle).iter_batches(use_threads=False)
    return run


def read_output(spark, output: Path):
    """An output as a Spark DataFrame: a store's parts read by the tasks (pyarrow; Spark's S3 connector is not part
    of the pip-installed distribution), else Spark's own reader of the file or folder."""
    manifest = parts.read_manifest(output)
    if manifest is None:
        return spark.read.parquet(str(Path(output).resolve()))
    from pyspark.sql.pandas.types import from_arrow_schema

    found = parts.parts_of(output)  # every part present, at its size: checked once, on the driver
    with found[0].open() as handle:
        schema = pq.ParquetFile(handle).schema_arrow
    uris = [entry["object"] for entry in manifest["parts"]]
    frame = spark.createDataFrame([(uri,) for uri in uris], URIS_SCHEMA).repartition(len(uris))
    return frame.mapInArrow(part_reader(object_store_settings()), from_arrow_schema(schema))
