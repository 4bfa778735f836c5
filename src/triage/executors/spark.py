"""The Spark executor: the same row kernel through `mapInArrow`, the same queries in Spark SQL, on any master.

The master comes from params (`data.executor: {engine: spark, master: spark://host:7077}`), else
$TRIAGE_SPARK_MASTER, else `local[2]` (triage.tooling.spark.spark_session refuses at once, on one line, a missing
Java, a missing pyspark or an unreachable master). Each extract is one task: the task reads it as a stream in
batches and yields the kernel's Arrow batches, so a task that dies and is retried yields the same rows again, and
Spark keeps only one successful attempt. Outputs are Parquet folders at the stage's output paths, or, with
`data.executor.store`, parts in a store that every host reaches and a manifest at the stage's path
(triage.executors.spark_parts; readers take all three alike: triage.data.parts).

Everything the kernel needs is resolved on the driver and shipped with it: the contract, the pseudonymisation key,
each extract's absolute path or object URI and the name its record ids carry (a task's working directory is the
worker's). Objects in a bucket are read by the tasks themselves (pyarrow's S3 filesystem), with the endpoint and
credentials the driver has; with a store, a local extract is first copied there by content, so no task needs the
driver's filesystem.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from triage.contract import Contract
from triage.data import queries
from triage.data.extracts import BATCH_ROWS, iter_extract_batches, shown_path
from triage.data.ingest import header_findings, ingest_stats
from triage.data.kernels import SOURCE_SHIFT, canonical_columns, ingest_batch, row_schema, to_arrow
from triage.data.locations import Location, is_remote, location, object_store_settings, suffix
from triage.data.parts import put_object, store_uri
from triage.data.split import PARTS, parts_profile
from triage.data.validation import finish_quarantine, validation_accounting
from triage.executors.spark_parts import read_output, write_parts

Progress = Callable[[str], None]
FILES_SCHEMA = "source_index INT, path STRING, name STRING"
PANDAS_NOTICE = "PySpark does not yet fully support pandas"


def ingest_task(contract: Contract, key: bytes, batch_rows: int, schema: pa.Schema, store: dict[str, str]
                ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark task runs: for every extract of its partition, the kernel's rows as Arrow. `store`:
    the object store's endpoint and keys as the driver has them (a worker's environment was fixed when it started)."""
    def run(files: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        os.environ.update(store)
        for chunk in files:
            for source_index, path, name in zip(*(chunk.column(i).to_pylist() for i in range(3)), strict=True):
                for batch in iter_extract_batches(location(path), batch_rows, name):
                    yield from to_arrow(ingest_batch(batch, source_index, contract, key), schema).to_batches()
    return run


def store_setting(value: Any) -> str | None:
    """`data.executor.store`: an s3:// prefix, or a folder every host of the cluster mounts; absent: none."""
    return None if value in (None, "") else store_uri(str(value))


@dataclass
class SparkExecutor:
    master: str | None = None
    batch_rows: int = BATCH_ROWS
    shuffle_partitions: int = 4
    conf: dict[str, str] = field(default_factory=dict)  # any Spark setting (data.executor.conf), over the defaults
    store: str | None = None  # data.executor.store: where tasks keep the stages' rows (triage.executors.spark_parts)

    name = "spark"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> SparkExecutor:
        return cls(master=settings.get("master"), batch_rows=int(settings.get("batch_rows", BATCH_ROWS)),
                   shuffle_partitions=int(settings.get("shuffle_partitions", 4)),
                   conf={str(key): str(value) for key, value in (settings.get("conf") or {}).items()},
                   store=store_setting(settings.get("store")))

    def session(self):
        """The session (the driver and its Python workers told to keep pyspark's pandas-3 notice to itself: triage
        runs through Arrow, not the pandas-on-Spark API the notice is about)."""
        from triage.tooling.spark import spark_session

        warnings.filterwarnings("ignore", message=PANDAS_NOTICE, category=FutureWarning)
        os.environ.setdefault("PYTHONWARNINGS", f"ignore:{PANDAS_NOTICE}:FutureWarning")
        return spark_session(self.master, "triage-data",
                             {"spark.sql.shuffle.partitions": str(self.shuffle_partitions),
                              "spark.executorEnv.PYTHONWARNINGS": f"ignore:{PANDAS_NOTICE}:FutureWarning",
                              **self.conf})

    # --- ingest ---------------------------------------------------------------------------------------------------
    def ingest(self, paths: list[Location], contract: Contract, key: bytes, out: Path, simulated: bool,
               progress: Progress = print) -> dict[str, Any]:
        """Every extract through the row kernel, one Spark task per extract, into the Parquet folder `out`."""
        unknown: dict[str, list[str]] = {}
        for path in paths:  # on the driver, before any task: a missing column refuses the run at once
            header_findings(next(iter_extract_batches(path, 1)), contract, unknown, progress)
        spark = self.session()
        from pyspark.sql.pandas.types import from_arrow_schema

        files = spark.createDataFrame([(index, self._task_location(path, progress), shown_path(path))
                                       for index, path in enumerate(paths)], FILES_SCHEMA)
        # within a partition, the extracts in source order: a shuffle delivers them in any order, and the written
        # part would hold the same rows in another order (another folder hash) from one run to the next
        files = files.repartition(max(len(paths), 1), "source_index").sortWithinPartitions("source_index")
        schema = row_schema(contract)
        progress(f"spark: {len(paths)} extract(s) as {len(paths)} task(s) on {spark.sparkContext.master}")
        reach = object_store_settings() if self.store or any(is_remote(path) for path in paths) else {}
        rows = files.mapInArrow(ingest_task(contract, key, self.batch_rows, schema, reach), from_arrow_schema(schema))
        write_parts(rows, out, self.store)
        counts = self._rows_per_extract(spark, out, paths)
        for name, count in counts.items():
            progress(f"read {name}: {count} rows")
        return ingest_stats(counts, unknown, simulated, contract)

    def _task_location(self, path: Location, progress: Progress) -> str:
        """Where a task reads an extract: its object in a bucket; a local one at its absolute path, or, with a store,
        uploaded there first by content (executors on other hosts cannot read the driver's files)."""
        if is_remote(path):
            return str(path)
        if self.store is None:
            return str(Path(path).resolve())
        progress(f"copying {shown_path(path)} to the store for the executors")
        return put_object(Path(path), self.store, "extracts", suffix(path))[0]

    def _rows_per_extract(self, spark, out: Path, paths: list[Location]) -> dict[str, int]:
        per_source = dict(read_output(spark, out)
                          .selectExpr(f"shiftright(record_order, {SOURCE_SHIFT}) AS source")
                          .groupBy("source").count().collect())
        return {shown_path(path): int(per_source.get(index, 0)) for index, path in enumerate(paths)}

    # --- validate -------------------------------------------------------------------------------------------------
    def validate(self, source: Path, contract: Contract, stats: dict[str, Any], max_bad_fraction: float,
                 clean_out: Path | None) -> tuple[pd.DataFrame | None, pd.DataFrame, dict[str, Any]]:
        spark = self.session()
        read_output(spark, source).createOrReplaceTempView("rows")
        flagged = spark.sql(queries.for_engine(queries.FLAGGED, "spark")).cache()
        flagged.createOrReplaceTempView("flagged")
        counts = spark.sql(queries.for_engine(queries.COUNTS, "spark")).collect()[0]
        columns = canonical_columns(contract)
        quarantine = finish_quarantine(
            spark.sql(queries.for_engine(queries.quarantine_query(columns), "spark")).toPandas(), contract)
        clean = spark.sql(queries.for_engine(queries.clean_query(columns), "spark"))
        rows_clean, frame = self._write(clean, clean_out)
        flagged.unpersist()
        accounting = validation_accounting({**stats, "rows_in": int(counts["rows_in"]),
                                            "rows_exact_duplicate": int(counts["rows_exact_duplicate"]),
                                            "rows_near_duplicate": int(counts["rows_near_duplicate"])},
                                           rows_clean, quarantine, max_bad_fraction)
        return frame, quarantine, accounting

    def _write(self, frame, out: Path | None) -> tuple[int, pd.DataFrame | None]:
        if out is None:
            collected = frame.toPandas()
            return len(collected), collected
        return write_parts(frame, out, self.store), None

    # --- split ----------------------------------------------------------------------------------------------------
    def split(self, source: Path, contract: Contract, settings: dict[str, Any], seed: int, holdout: set[str],
              outs: dict[str, Path] | None) -> tuple[dict[str, pd.DataFrame] | None, dict[str, Any]]:
        spark = self.session()
        read_output(spark, source).createOrReplaceTempView("clean")
        parts_sql = queries.patient_parts_sql(contract, settings, seed, holdout)
        spark.sql(queries.for_engine(parts_sql, "spark")).createOrReplaceTempView("patient_parts")
        assigned = spark.sql(queries.for_engine(queries.ASSIGNED, "spark")).cache()
        assigned.createOrReplaceTempView("assigned")
        columns = canonical_columns(contract)
        frames = {}
        for part in PARTS:
            rows = spark.sql(queries.for_engine(queries.part_query(columns, part), "spark"))
            _, frames[part] = self._write(rows, None if outs is None else outs[part])
        profile = parts_profile(spark.sql(queries.for_engine(queries.parts_profile_query(contract, holdout),
                                                             "spark")).toPandas(), contract)
        assigned.unpersist()
        return (None if outs is not None else frames), profile
