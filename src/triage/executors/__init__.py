"""The executors of the data stages (ingest, validate, split): one set of kernels and queries, two engines.

- `local` (the default): no server, no JVM. Extracts stream in bounded batches through the row kernel
  (triage.data.kernels) into Parquet; the global steps (triage.data.queries) run in DuckDB, which spills to disk, so
  memory does not grow with the number of visits.
- `spark`: the same kernel through `mapInPandas`, the same queries in Spark SQL, on any master (`local[*]`,
  `spark://…`, a managed service) from params (`data.executor: {engine: spark, master: ...}`) or
  $TRIAGE_SPARK_MASTER.

Both write the same clean rows, quarantine, accounting and split membership (tests/executors).
"""

from __future__ import annotations

from typing import Any

ENGINES = ("local", "spark")


def executor_settings(params: dict[str, Any]) -> dict[str, Any]:
    """`data.executor` of params: a name, or a mapping with `engine` and its options; absent: local."""
    settings = params.get("data", {}).get("executor") or "local"
    settings = {"engine": settings} if isinstance(settings, str) else dict(settings)
    if settings.get("engine", "local") not in ENGINES:
        from triage.errors import UserError

        raise UserError(f"data.executor.engine must be one of {', '.join(ENGINES)}, got {settings.get('engine')!r}")
    return settings


def executor_from_params(params: dict[str, Any]):
    """The executor params choose (its heavy imports only when chosen)."""
    settings = executor_settings(params)
    if settings.get("engine", "local") == "spark":
        from triage.executors.spark import SparkExecutor

        return SparkExecutor.from_settings(settings)
    from triage.executors.local import LocalExecutor

    return LocalExecutor.from_settings(settings)
