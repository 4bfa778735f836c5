"""Apache Spark for the data stages: a SparkSession for any master, refused at once when Spark cannot run here.

`spark_session(master, app_name)` works for any master URL (`local[2]`, `local[*]`, `spark://host:port`): the
argument, else `$TRIAGE_SPARK_MASTER`, else `local[2]`. What would otherwise fail after minutes or with a JVM stack
trace (no Java, no pyspark, a master nobody listens on) is refused at once with one line saying what to do. A
standalone cluster on this machine: triage.tooling.spark_cluster.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.errors import UserError

if TYPE_CHECKING:  # pyspark is an optional extra: imported only when a session is made
    from pyspark.sql import SparkSession

HOST = "127.0.0.1"
SUBMITTED_VARIABLE = "TRIAGE_SPARK_SUBMITTED"  # set in a job run by spark-submit (triage.cloud): use its session
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
DEFAULT_MASTER = "local[2]"
MASTER_ENV = "TRIAGE_SPARK_MASTER"
MINIMUM_JAVA = 17
INSTALL_JAVA = "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
INSTALL_PYSPARK = "pyspark is not installed: pip install -e '.[spark]' (make setup installs it)"
# Spark settings of every session: quiet, reproducible runs on a small machine; `config` overrides any of them
SESSION_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # a mapInPandas kernel that Arrow cannot carry should fail, not silently take the slow row-by-row path
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
}
# only when the master is local or on loopback: a remote cluster's executors must be able to reach the driver
LOOPBACK_DRIVER = {"spark.driver.host": HOST, "spark.driver.bindAddress": HOST}
# a local[N] master runs its tasks inside the driver's JVM, whose default heap (1 GB) ran out caching 10M visits'
# rows in validate; data.executor.conf (spark.driver.memory) overrides it
LOCAL_DRIVER = {"spark.driver.memory": "4g"}


class SparkUnavailable(UserError):
    """Spark cannot run here as asked (no Java, no pyspark, no master listening); the message says what to do."""


# -- what Spark needs on this machine ----------------------------------------------------------------------------


def spark_home() -> Path:
    """The pyspark package directory: pip's pyspark is a complete Spark distribution (`bin/`, `jars/`), so it is
    SPARK_HOME. Found without importing pyspark, which is slow and has side effects."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SparkUnavailable(INSTALL_PYSPARK)
    home = Path(next(iter(spec.submodule_search_locations)))
    if not (home / "jars").is_dir() or not (home / "bin" / "spark-class").exists():
        raise SparkUnavailable(f"{home} is not a complete Spark distribution (no jars/ or bin/spark-class): "
                               "pip install --force-reinstall -e '.[spark]'")
    return home


def java_home() -> Path:
    """JAVA_HOME if set (it must hold bin/java: Spark's launcher would use it blindly), else the installation of the
    `java` on PATH (JAVA_HOME is often unset on Debian, where `java` is an alternatives symlink)."""
    configured = os.environ.get("JAVA_HOME")
    if configured:
        if not os.access(Path(configured) / "bin" / "java", os.X_OK):
            raise SparkUnavailable(f"JAVA_HOME={configured} has no bin/java: {INSTALL_JAVA}")
        home = Path(configured)
    else:
        found = shutil.which("java")
        if not found:
            raise SparkUnavailable(f"no `java` on PATH: {INSTALL_JAVA}")
        home = Path(found).resolve().parent.parent
    major = java_major_version(str(home / "bin" / "java"))
    if major < MINIMUM_JAVA:
        raise SparkUnavailable(f"{home} is Java {major}, Spark 4 needs {MINIMUM_JAVA}+: {INSTALL_JAVA}")
    return home


@functools.lru_cache(maxsize=8)
def java_major_version(java: str) -> int:
    """The major version `java -version` reports ("17.0.15" -> 17, the old "1.8.0_402" -> 8)."""
    try:
        output = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SparkUnavailable(f"{java} does not run ({error}): {INSTALL_JAVA}") from error
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not match:
        raise SparkUnavailable(f"cannot read the version of {java}: {INSTALL_JAVA}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def resolve_master(master: str | None) -> str:
    """The argument, else $TRIAGE_SPARK_MASTER, else local[2]: stages take any master without a code change."""
    return master or os.environ.get(MASTER_ENV) or DEFAULT_MASTER


def master_addresses(master: str) -> list[tuple[str, int]]:
    """Host and port of each master in a `spark://h1:p1[,h2:p2]` URL (several with ZooKeeper failover); none for
    local and other schemes, which Spark resolves itself."""
    if not master.startswith("spark://"):
        return []
    addresses = []
    for part in master.removeprefix("spark://").split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise SparkUnavailable(f"malformed Spark master URL {master!r}: expected spark://HOST:PORT")
        addresses.append((host, int(port)))
    return addresses


def check_master_reachable(master: str, timeout: float = 3.0) -> None:
    """Refuse a `spark://` master nobody listens on within seconds; Spark itself retries for minutes, then fails
    with a stack trace."""
    addresses = master_addresses(master)
    for address in addresses:
        try:
            with socket.create_connection(address, timeout=timeout):
                return
        except OSError:
            continue
    if addresses:
        raise SparkUnavailable(f"cannot reach the Spark master at {master}: start one with `triage spark up` or "
                               f"set {MASTER_ENV}")


def is_loopback_master(master: str) -> bool:
    """local[...] or a standalone master on this machine; other cluster managers (yarn, k8s://) are remote."""
    if master.startswith("spark://"):
        return all(host in LOOPBACK_NAMES for host, _ in master_addresses(master))
    return master.startswith("local")


# -- a session ---------------------------------------------------------------------------------------------------


def session_config(master: str, config: dict[str, Any] | None = None) -> dict[str, str]:
    """Every setting of a session: the defaults, loopback binding when the cluster is on this machine, the
    driver's Python for the workers, then `config` on top."""
    settings = {**SESSION_DEFAULTS, **(LOOPBACK_DRIVER if is_loopback_master(master) else {}),
                **(LOCAL_DRIVER if master.startswith("local") else {}),
                "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
                "spark.pyspark.driver.python": sys.executable}
    settings.update({key: str(value) for key, value in (config or {}).items()})
    return settings


def submitted_session(app_name: str, config: dict[str, Any] | None) -> SparkSession:
    """Inside spark-submit (EMR Serverless, the cloud stand-in): the submission's own session and master; the
    SQL settings of `session_config` (the UTC session time zone, Arrow without fallback, ...) and those asked for
    are applied to it, so it writes what a session made here writes; the others were fixed when it started."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.appName(app_name).getOrCreate()
    for key, value in {**SESSION_DEFAULTS, **(config or {})}.items():
        if key.startswith("spark.sql."):
            session.conf.set(key, str(value))
    return session


def spark_session(master: str | None = None, app_name: str = "triage",
                  config: dict[str, Any] | None = None) -> SparkSession:
    """A SparkSession on `master` (see `resolve_master`), refused at once when Spark cannot run as asked.

    The executors' Python is the driver's interpreter (PYSPARK_PYTHON, unless already set), so mapInPandas kernels
    find the same pandas, pyarrow and triage. A process has one SparkContext (a Spark rule): a running session on
    another master is stopped first, so the session returned really runs where it was asked to.
    """
    if os.environ.get(SUBMITTED_VARIABLE):
        return submitted_session(app_name, config)
    master = resolve_master(master)
    spark_home()
    java_home()
    check_master_reachable(master)
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SparkUnavailable(f"{INSTALL_PYSPARK} ({error})") from error
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # read by pyspark itself: the workers' interpreter
    if is_loopback_master(master):  # read by the driver JVM as it starts: no "hostname resolves to loopback" warning
        os.environ.setdefault("SPARK_LOCAL_IP", HOST)
    active = SparkSession.getActiveSession()
    if active is not None and active.sparkContext.master != master:
        active.stop()
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in session_config(master, config).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
