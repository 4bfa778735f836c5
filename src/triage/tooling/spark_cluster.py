"""A real Spark standalone cluster on loopback, from the pip-installed pyspark.

`triage spark up` / `make spark-up` starts a master and N workers from the pip-installed pyspark (its `jars/` and
`bin/spark-class`; the wheel ships no `sbin/start-master.sh`, so the daemons are started directly, each in its own
process group) under `.spark/`: logs in `logs/`, pids and ports in `run/cluster.json`, executor work dirs in
`work/`. Everything binds to 127.0.0.1 on explicit ports (free ones unless given), so two instances never collide.
`triage spark down` stops them. Tests start their own cluster in a temporary directory (`with StandaloneCluster(tmp)`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import UserError
from triage.tooling.ports import free_ports
from triage.tooling.server_files import log_tail
from triage.tooling.spark import HOST, java_home, spark_home

DEFAULT_ROOT = Path(".spark")
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class SparkClusterError(UserError):
    """The standalone cluster did not start (or is already running); the message carries the log tail."""


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
        return log_tail(self.log_file(daemon), lines)

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
