"""A real Spark standalone cluster (master + 2 workers on 127.0.0.1, from the pip-installed pyspark): it starts,
runs mapInPandas on both workers, survives losing a worker, stops without leftovers; sessions that cannot work
(unreachable master, no Java, no pyspark) are refused at once with one line."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from triage.commands import servers
from triage.errors import UserError
from triage.tooling import spark, spark_cluster
from triage.tooling.ports import free_ports
from triage.tooling.spark import SparkUnavailable, spark_session
from triage.tooling.spark_cluster import StandaloneCluster

pytestmark = pytest.mark.slow

ROWS = 400
PARTITIONS = 20
SCHEMA = "id long, value long, cwd string, ancestors string"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StandaloneCluster(tmp_path_factory.mktemp("spark"), workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def session(cluster):
    from pyspark import cloudpickle

    # the kernels below live in a test module the executors cannot import: ship them by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with pytest.MonkeyPatch.context() as patch:  # spark_session sets PYSPARK_PYTHON and SPARK_LOCAL_IP
        for name in ("PYSPARK_PYTHON", "SPARK_LOCAL_IP", spark.MASTER_ENV):
            patch.delenv(name, raising=False)
        patch.setenv(spark.MASTER_ENV, cluster.master_url)  # the session's master comes from the environment
        active = spark_session(None, "triage-test", {"spark.task.maxFailures": "4"})
        yield active
        active.stop()


def _ancestors() -> str:
    """This process and its ancestors (python worker <- pyspark daemon <- executor JVM <- worker JVM ...)."""
    chain, pid = [], os.getpid()
    while pid > 1 and len(chain) < 8:
        chain.append(pid)
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return ",".join(map(str, chain))


def kernel(batches, pause: float = 0.0):
    import pandas as pd

    for batch in batches:
        time.sleep(pause)
        yield pd.DataFrame({"id": batch["id"], "value": batch["id"] * 3 + 1, "cwd": os.getcwd(),
                            "ancestors": _ancestors()})


def slow_kernel(batches):
    yield from kernel(batches, pause=0.6)


def run_job(session, function=kernel):
    frame = session.range(0, ROWS, numPartitions=PARTITIONS).mapInPandas(function, SCHEMA).toPandas()
    return frame.sort_values("id").reset_index(drop=True)


def assert_right_rows(frame) -> None:
    assert frame["id"].tolist() == list(range(ROWS))
    assert frame["value"].tolist() == [i * 3 + 1 for i in range(ROWS)]


def workers_that_ran(cluster, frame) -> set[str]:
    """The workers whose JVM is an ancestor of the Python process that ran a task (and whose work dir it ran in)."""
    by_pid = {worker.pid: worker.name for worker in cluster.state.workers}
    names = set()
    for cwd, ancestors in frame[["cwd", "ancestors"]].drop_duplicates().itertuples(index=False):
        owner = {by_pid[int(pid)] for pid in ancestors.split(",") if int(pid) in by_pid}
        assert len(owner) == 1, f"a task ran outside every worker: {cwd} {ancestors}"
        assert cwd.startswith(str(cluster.root / "work" / next(iter(owner)))), cwd
        names |= owner
    return names


def test_the_master_sees_every_worker_alive_on_loopback(cluster, capsys):
    status = cluster.master_json()
    alive = [worker for worker in status["workers"] if worker["state"] == "ALIVE"]
    assert len(alive) == 2 and status["aliveworkers"] == 2
    assert {worker["host"] for worker in alive} == {"127.0.0.1"}
    assert cluster.master_url == f"spark://127.0.0.1:{cluster.state.master.port}"
    # the command line finds the running cluster from its root alone (run/cluster.json)
    args = argparse.Namespace(root=str(cluster.root), workers=2, cores=1, memory="2g", port=None, webui_port=None)
    assert servers.spark(argparse.Namespace(**{**vars(args), "action": "status"})) == 0
    assert servers.spark(argparse.Namespace(**{**vars(args), "action": "env"})) == 0
    output = capsys.readouterr().out
    assert "with 2 ALIVE workers" in output
    assert f"export {spark.MASTER_ENV}={cluster.master_url}" in output


def test_map_in_pandas_runs_on_both_workers(cluster, session):
    assert session.sparkContext.master == cluster.master_url
    frame = run_job(session)
    assert_right_rows(frame)
    assert workers_that_ran(cluster, frame) == {"worker-1", "worker-2"}


def test_an_unreachable_master_is_refused_within_seconds():
    url = f"spark://127.0.0.1:{free_ports(1)[0]}"
    started = time.monotonic()
    with pytest.raises(SparkUnavailable) as refused:
        spark_session(url, "nobody-listens")
    assert time.monotonic() - started < 5
    message = str(refused.value)
    assert "\n" not in message and isinstance(refused.value, UserError)
    assert message == (f"cannot reach the Spark master at {url}: start one with `triage spark up` or set "
                       "TRIAGE_SPARK_MASTER")


REFUSE = ("import sys\n{prelude}\nfrom triage.errors import UserError\nfrom triage.tooling.spark import spark_session\n"
          "try:\n    spark_session('local[2]', 'refused')\nexcept UserError as error:\n    print(error)\n"
          "    sys.exit(2)\n")


@pytest.mark.parametrize(("environment", "prelude", "expected"), [
    ({"PATH": "/nonexistent"}, "", "no `java` on PATH: install a Java 17+ runtime (apt-get install "
     "openjdk-17-jre-headless) or set JAVA_HOME"),
    ({"JAVA_HOME": "/nonexistent"}, "", "JAVA_HOME=/nonexistent has no bin/java: install a Java 17+ runtime "
     "(apt-get install openjdk-17-jre-headless) or set JAVA_HOME"),
    ({}, "sys.modules['pyspark'] = None  # as if not installed", "pyspark is not installed: pip install -e "
     "'.[spark]' (make setup installs it)"),
], ids=["no-java", "wrong-java-home", "no-pyspark"])
def test_a_session_that_cannot_work_is_refused_with_one_line(environment, prelude, expected):
    base = {key: value for key, value in os.environ.items() if key not in ("JAVA_HOME", spark.MASTER_ENV)}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", REFUSE.format(prelude=prelude)], env={**base, **environment},
                            capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 10
    assert result.returncode == 2, result.stderr
    assert result.stdout.splitlines() == [expected]


def test_a_job_survives_losing_a_worker(cluster, session):
    doomed, survivor = cluster.state.workers
    outcome = {}
    job = threading.Thread(target=lambda: outcome.update(frame=run_job(session, slow_kernel)))
    job.start()
    time.sleep(2.5)  # both executors are inside the job's tasks (20 x 0.6 s over 2 cores)
    assert job.is_alive(), "the job ended before the worker could be killed: make the tasks slower"
    os.kill(doomed.pid, 9)
    job.join(timeout=120)
    assert not job.is_alive()
    assert_right_rows(outcome["frame"])
    deadline = time.monotonic() + 30
    while cluster.alive_workers() != 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cluster.alive_workers() == 1
    following = run_job(session)
    assert_right_rows(following)
    assert workers_that_ran(cluster, following) == {survivor.name}


def test_down_leaves_no_spark_process(cluster):
    pids = cluster.pids()
    master, survivor = cluster.state.master.pid, cluster.state.workers[1].pid
    assert {master, survivor} <= pids and len(pids) >= 4  # and the survivor's executor, its Python daemon
    assert cluster.down()
    leftovers = {pid for pid in pids if spark_cluster._process_alive(pid)}
    assert not leftovers, f"still running after down(): {leftovers}"
    assert not cluster.state_file.exists() and cluster.pids() == set()
    assert not spark_cluster._listening("127.0.0.1", cluster.state.master.port)


LOCAL_JOB = ("import os\nfrom triage.tooling.spark import spark_session\nsession = spark_session(None, 'local-job')\n"
             "double = lambda batches: (batch * 2 for batch in batches)\n"
             "frame = session.range(0, 100, numPartitions=4).mapInPandas(double, 'id long').toPandas()\n"
             "print(session.sparkContext.master, int(frame['id'].sum()))\n")


def test_without_a_master_the_session_is_local():
    """No argument and no TRIAGE_SPARK_MASTER: local[2], the same kernel code (its own process: one context each)."""
    environment = {key: value for key, value in os.environ.items() if key != spark.MASTER_ENV}
    result = subprocess.run([sys.executable, "-c", LOCAL_JOB], env=environment, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["local[2]", str(2 * sum(range(100)))]
