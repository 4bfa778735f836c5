"""`data.executor` in params chooses the data stages' engine and its options, without a code change: the local
executor by default, Spark on any master with any Spark setting (`conf`), and an unknown engine refused on one line."""

from __future__ import annotations

import pytest

from triage.errors import UserError
from triage.executors import executor_from_params
from triage.executors.local import LocalExecutor
from triage.executors.spark import SparkExecutor


def test_the_embedded_executor_is_the_default():
    assert isinstance(executor_from_params({"data": {}}), LocalExecutor)
    assert isinstance(executor_from_params({"data": {"executor": "local"}}), LocalExecutor)


def test_spark_takes_its_master_and_any_setting_from_params():
    executor = executor_from_params({"data": {"executor": {
        "engine": "spark", "master": "spark://10.0.0.5:7077", "shuffle_partitions": 64,
        "conf": {"spark.driver.memory": "8g", "spark.sql.adaptive.enabled": True}}}})
    assert isinstance(executor, SparkExecutor) and executor.master == "spark://10.0.0.5:7077"
    assert executor.shuffle_partitions == 64
    assert executor.conf == {"spark.driver.memory": "8g", "spark.sql.adaptive.enabled": "True"}


def test_an_unknown_engine_is_refused_naming_the_field():
    with pytest.raises(UserError, match="data.executor.engine must be one of local, spark, got 'dask'"):
        executor_from_params({"data": {"executor": {"engine": "dask"}}})


def test_a_local_master_gets_a_driver_heap_for_its_tasks_and_params_can_change_it():
    from triage.tooling.spark import session_config

    assert session_config("local[2]")["spark.driver.memory"] == "4g"  # the tasks run in the driver's JVM
    assert session_config("local[2]", {"spark.driver.memory": "12g"})["spark.driver.memory"] == "12g"
    assert "spark.driver.memory" not in session_config("spark://10.0.0.5:7077")  # the cluster's own settings
