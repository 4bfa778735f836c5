"""Apache Spark for the data stages: a real standalone cluster on loopback, and a SparkSession for any master.

`triage spark up` / `make spark-up` starts a master and N workers from the pip-installed pyspark (its `jars/` and
`bin/spark-class`; the wheel ships no `sbin/start-master.sh`, so the daemons are started directly, each in its own
process group) under `.spark/`: logs in `logs/`, pids and ports in `run/cluster.json`, executor work dirs in
`work/`. Everything binds to 127.0.0.1 on explicit ports (free ones unless given), so two instances never collide.
`triage spark down` stops them. Tests start their own cluster in a temporary directory (`with StandaloneCluster(tmp)`).

`spark_session(master, app_name)` works for any master URL (`local[2]`, `local[*]`, `spark://host:port`): the
argument, else `$TRIAGE_SPARK_MASTER`, else `local[2]`. What would otherwise fail after minutes or with a JVM stack
trace (no Java, no pyspark, a master nobody listens on) is refused at once with one line saying what to do.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.errors import UserError

if TYPE_CHECKING:  # pyspark is an optional extra: imported only when a session is made
    from pyspark.sql import SparkSession

HOST = "127.0.0.1"
SUBMITTED_VARIABLE = "TRIAGE_SPARK_SUBMITTED"  # set in a job run by spark-submit (triage.cloud): use its session
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
DEFAULT_ROOT = Path(".spark")
DEFAULT_MASTER = "local[2]"
MASTER_ENV = "TRIAGE_SPARK_MASTER"
MINIMUM_JAVA = 17
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
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


class SparkUnavailable(UserError):
    """Spark cannot run here as asked (no Java, no pyspark, no master listening); the message says what to do."""


class SparkClusterError(UserError):
    """The standalone cluster did not start (or is already running); the message carries the log tail."""


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


# -- a standalone cluster on loopback ----------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all sockets held open together, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


@dataclass
class Daemon:
    """One master or worker JVM: its ports, its pid (also its process group: the executors and their Python
    workers started by a worker belong to it) and its log."""

    name: str
    port: int
    webui_port: int
    pid: int | None = None

    def alive(self) -> bool:
        return self.pid is not None and _process_alive(self.pid)


@dataclass
class ClusterState:
    """What `up` records in run/cluster.json, so `down`, `status` and `env` work from another process."""

    master: Daemon
    workers: list[Daemon] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(Daemon(**data["master"]), [Daemon(**worker) for worker in data["workers"]])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"master": asdict(self.master), "workers": [asdict(w) for w in self.workers]}))

    def daemons(self) -> list[Daemon]:
        return [*self.workers, self.master]


class StandaloneCluster:
    """A Spark standalone master and `workers` workers on 127.0.0.1, rooted in a directory (logs, pids, work)."""

    def __init__(self, root: Path = DEFAULT_ROOT, workers: int = 2, cores_per_worker: int = 1,
                 memory_per_worker: str = "2g", master_port: int | None = None, webui_port: int | None = None):
        self.root = Path(root).resolve()
        self.cores_per_worker = cores_per_worker
        self.memory_per_worker = memory_per_worker
        self._processes: dict[int, subprocess.Popen] = {}
        recorded = ClusterState.load(self.state_file)
        if recorded is not None and recorded.master.alive():
            self.state = recorded  # a running cluster of this root: down/status/env act on it
            return
        ports = iter(free_ports(2 + 2 * workers))
        master = Daemon("master", master_port or next(ports), webui_port or next(ports))
        self.state = ClusterState(master, [Daemon(f"worker-{index}", next(ports), next(ports))
                                           for index in range(1, workers + 1)])

    def __enter__(self) -> StandaloneCluster:
        self.up()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.down()

    @property
    def state_file(self) -> Path:
        return self.root / "run" / "cluster.json"

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.state.master.port}"

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.state.master.webui_port}"

    def log_file(self, daemon: Daemon) -> Path:
        return self.root / "logs" / f"{daemon.name}.log"

    def environment(self) -> dict[str, str]:
        """The daemons' environment: this Spark, this Java, everything on loopback and under `root`."""
        return {**os.environ, "SPARK_HOME": str(spark_home()), "JAVA_HOME": str(java_home()),
                "SPARK_MASTER_HOST": HOST, "SPARK_LOCAL_IP": HOST, "SPARK_LOG_DIR": str(self.root / "logs"),
                "SPARK_PID_DIR": str(self.root / "run"), "SPARK_WORKER_DIR": str(self.root / "work"),
                "SPARK_LOCAL_DIRS": str(self.root / "tmp"), "SPARK_CONF_DIR": str(self.root / "conf"),
                # the REST submission server would listen on the fixed port 6066: off, nothing here submits through it
                "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
                "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}

    def daemon_command(self, daemon: Daemon) -> list[str]:
        """`spark-class` (the launcher of the distribution, which execs the JVM: the pid is the JVM's)."""
        spark_class = str(spark_home() / "bin" / "spark-class")
        common = ["--host", HOST, "--port", str(daemon.port), "--webui-port", str(daemon.webui_port)]
        if daemon is self.state.master:
            return [spark_class, MASTER_CLASS, *common]
        return [spark_class, WORKER_CLASS, *common, "--cores", str(self.cores_per_worker),
                "--memory", self.memory_per_worker, "--work-dir", str(self.root / "work" / daemon.name),
                self.master_url]

    def running(self) -> bool:
        return self.state.master.alive()

    def up(self, timeout: float = 120) -> None:
        """Start the master, then the workers once the master listens (a worker that finds no master backs off
        for several seconds), and wait until the master reports every worker ALIVE."""
        if self.running():
            raise SparkClusterError(f"a Spark cluster already runs from {self.root} at {self.master_url} "
                                    f"(pid {self.state.master.pid}): `triage spark down` first")
        taken = [daemon.name for daemon in self.state.daemons()
                 if any(_listening(HOST, port) for port in (daemon.port, daemon.webui_port))]
        if taken:
            raise SparkClusterError(f"a port of the Spark {', '.join(taken)} is in use on {HOST} (another Spark "
                                    f"cluster?): stop it, or choose other ports (--port, --webui-port)")
        for directory in ("logs", "run", "work", "tmp", "conf"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        try:
            self._start(self.state.master)
            self._wait(deadline, lambda: _listening(HOST, self.state.master.port), "the master to listen")
            for worker in self.state.workers:
                self._start(worker)
            self._wait(deadline, lambda: self.alive_workers() == len(self.state.workers),
                       f"{len(self.state.workers)} ALIVE workers")
        except BaseException:
            self.down()
            raise

    def _start(self, daemon: Daemon) -> None:
        log = open(self.log_file(daemon), "ab")  # noqa: SIM115 - the daemon keeps writing after we return
        process = subprocess.Popen(self.daemon_command(daemon), env=self.environment(), stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        daemon.pid = process.pid
        self._processes[process.pid] = process
        self.state.save(self.state_file)  # at once: down() must find whatever was started, even after a failure

    def _wait(self, deadline: float, ready, what: str) -> None:
        while time.monotonic() < deadline:
            for daemon in self.state.daemons():
                if daemon.pid is not None and not daemon.alive():
                    raise SparkClusterError(f"the Spark {daemon.name} exited while waiting for {what}; "
                                            f"{self.log_tail(daemon)}")
            if ready():
                return
            time.sleep(0.5)
        tails = "\n".join(self.log_tail(daemon) for daemon in self.state.daemons() if daemon.pid is not None)
        raise SparkClusterError(f"timed out waiting for {what} at {self.master_url}\n{tails}")

    def log_tail(self, daemon: Daemon, lines: int = 15) -> str:
        path = self.log_file(daemon)
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
        return f"last lines of {path}:\n" + "\n".join(text)

    def master_json(self) -> dict[str, Any] | None:
        """The master web UI's /json: its state and every worker (id, host, state, cores) and application."""
        try:
            with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=3) as response:  # noqa: S310 - loopback
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def alive_workers(self) -> int:
        data = self.master_json() or {}
        return sum(worker.get("state") == "ALIVE" for worker in data.get("workers", []))

    def status(self) -> dict[str, Any]:
        """The URLs, each daemon's pid and whether it lives, and the workers the master reports ALIVE."""
        return {"running": self.running(), "master_url": self.master_url, "webui_url": self.webui_url,
                "alive_workers": self.alive_workers() if self.running() else 0,
                "daemons": {daemon.name: {"pid": daemon.pid, "alive": daemon.alive(), "port": daemon.port,
                                          "webui_port": daemon.webui_port} for daemon in self.state.daemons()},
                "logs": str(self.root / "logs")}

    def pids(self) -> set[int]:
        """Every live process of the cluster: the daemons, their descendants (executors, pyspark's Python daemon,
        which starts its own process group, and its workers) and whatever is left in those process groups when a
        parent is gone (a killed worker's executor until it notices)."""
        table = _spark_process_table()
        found = {daemon.pid for daemon in self.state.daemons() if daemon.pid in table}
        groups = {daemon.pid for daemon in self.state.daemons() if daemon.pid is not None}
        while True:
            more = {pid for pid, (parent, group) in table.items() if parent in found or group in groups} - found
            if not more:
                return found
            found |= more
            groups |= {table[pid][1] for pid in more}

    def down(self, timeout: float = 20) -> bool:
        """Stop the workers (they stop their executors), then the master; whatever is left is killed by pid."""
        pids = self.pids()
        for daemon in self.state.daemons():
            if daemon.pid is not None and daemon.pid in pids:
                _signal_group(daemon.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_process_alive(pid) for pid in pids):
            self._reap()
            time.sleep(0.2)
        for pid in self.pids() | {pid for pid in pids if _process_alive(pid)}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reap()
        self.state_file.unlink(missing_ok=True)
        for daemon in self.state.daemons():
            daemon.pid = None
        return bool(pids)

    def _reap(self) -> None:
        for process in self._processes.values():
            process.poll()


# -- processes ---------------------------------------------------------------------------------------------------


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _spark_process_table() -> dict[int, tuple[int, int]]:
    """{pid: (parent pid, process group)} of the live processes whose command line is Spark's (a JVM on Spark's
    jars, or pyspark's Python daemon and workers): a pid in a stale cluster.json that the system has given to
    another program is never signalled."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if (b"org.apache.spark" in command_line or b"pyspark" in command_line) and fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# -- command line ------------------------------------------------------------------------------------------------


def command(args) -> int:
    """`triage spark up|down|status|env`."""
    cluster = StandaloneCluster(Path(args.root), args.workers, args.cores, args.memory, args.port, args.webui_port)
    try:
        if args.action == "up":
            if cluster.running():
                print(f"Spark already running at {cluster.master_url} (pid {cluster.state.master.pid})")
                return 0
            started = time.monotonic()
            cluster.up()
            print(f"Spark master {cluster.master_url} with {len(cluster.state.workers)} workers "
                  f"({time.monotonic() - started:.0f} s); web UI {cluster.webui_url}; logs in {cluster.root / 'logs'}")
            print(f"use it: export {MASTER_ENV}={cluster.master_url}   (or: eval $(triage spark env))")
        elif args.action == "down":
            print("stopped" if cluster.down() else f"no Spark cluster was running from {cluster.root}")
        elif args.action == "status":
            status = cluster.status()
            print(f"running at {status['master_url']} with {status['alive_workers']} ALIVE workers, web UI "
                  f"{status['webui_url']}" if status["running"] else "not running")
            return 0 if status["running"] else 1
        elif args.action == "env":
            if not cluster.running():
                print(f"no Spark cluster is running from {cluster.root}: `triage spark up`", file=sys.stderr)
                return 1
            print(f"export {MASTER_ENV}={cluster.master_url}")
    except SparkClusterError as error:
        print(f"spark: {error}", file=sys.stderr)
        return 1
    return 0
