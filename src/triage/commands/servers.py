"""`triage s3`, `triage spark`, `triage postgres`, `triage compute`: the servers the project starts on this machine,
and where the heavy stages run."""

from __future__ import annotations

import shlex
import sys
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from triage import config
from triage.errors import ExitCode


def answered(name: str, action: Callable[[], int], refusal: type[Exception]) -> int:
    """The action's exit code, or BAD_INPUT with its one-line reason when the server refuses."""
    try:
        return action()
    except refusal as error:
        print(f"{name}: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT


def print_exports(environment: dict[str, str]) -> None:
    """Shell `export` lines, for `eval "$(triage ... env)"`."""
    for key, value in environment.items():
        print(f"export {key}={shlex.quote(value)}")


def stopped(name: str, was_running: bool, root: Path) -> int:
    """`down`'s answer: "stopped", or that nothing ran from `root`."""
    print("stopped" if was_running else f"no {name} was running from {root}")
    return ExitCode.OK


def reported(running: str | None) -> int:
    """`status`'s answer: the running server's line (OK), else "not running" (FAILED_CHECK)."""
    print(running or "not running")
    return ExitCode.OK if running else ExitCode.FAILED_CHECK


def exported(name: str, environment: dict[str, str] | None, root: Path, command: str) -> int:
    """`env`'s answer: the running server's variables as exports, else FAILED_CHECK with how to start it."""
    if environment is None:
        print(f"no {name} is running from {root}: `triage {command} up`", file=sys.stderr)
        return ExitCode.FAILED_CHECK
    print_exports(environment)
    return ExitCode.OK


def s3(args: Namespace) -> int:
    """`triage s3 up|down|status|env`: the local S3-compatible server (SeaweedFS on 127.0.0.1)."""
    from triage.tooling.s3server import LocalS3, S3ServerError, configure_dvc_remote

    server = LocalS3(Path(args.root), args.port, args.bucket)

    def up() -> int:
        if server.running_pid():
            print(f"S3 already running at {server.endpoint} (pid {server.running_pid()})")
        else:
            server.start()
            print(f"S3 (SeaweedFS) listening on {server.endpoint}, bucket {server.bucket}, data in {server.root}")
        configure_dvc_remote(server)
        return ExitCode.OK

    def down() -> int:
        return stopped("S3 server", server.stop(), server.root)

    def status() -> int:
        pid = server.running_pid()
        return reported(f"running at {server.endpoint} (pid {pid})" if pid else None)

    def env() -> int:
        return exported("S3 server", server.environment(), server.root, "s3")  # the credentials, running or not

    return answered("s3", {"up": up, "down": down, "status": status, "env": env}[args.action], S3ServerError)


def spark(args: Namespace) -> int:
    """`triage spark up|down|status|env`: a local Spark standalone cluster."""
    from triage.tooling.spark import MASTER_ENV
    from triage.tooling.spark_cluster import SparkClusterError, StandaloneCluster

    cluster = StandaloneCluster(Path(args.root), args.workers, args.cores, args.memory, args.port, args.webui_port)

    def up() -> int:
        if cluster.running():
            print(f"Spark already running at {cluster.master_url} (pid {cluster.state.master.pid})")
            return ExitCode.OK
        started = time.monotonic()
        cluster.up()
        print(f"Spark master {cluster.master_url} with {len(cluster.state.workers)} workers "
              f"({time.monotonic() - started:.0f} s); web UI {cluster.webui_url}; logs in {cluster.root / 'logs'}")
        print(f"use it: export {MASTER_ENV}={cluster.master_url}   (or: eval $(triage spark env))")
        return ExitCode.OK

    def down() -> int:
        return stopped("Spark cluster", cluster.down(), cluster.root)

    def status() -> int:
        found = cluster.status()
        return reported(f"running at {found['master_url']} with {found['alive_workers']} ALIVE workers, web UI "
                        f"{found['webui_url']}" if found["running"] else None)

    def env() -> int:
        return exported("Spark cluster", {MASTER_ENV: cluster.master_url} if cluster.running() else None,
                        cluster.root, "spark")

    return answered("spark", {"up": up, "down": down, "status": status, "env": env}[args.action], SparkClusterError)


def postgres(args: Namespace) -> int:
    """`triage postgres up|down|status|env`: a local PostgreSQL server (the OMOP CDM database)."""
    from triage.tooling.postgres import URL_VARIABLE, LocalPostgres, PostgresError

    server = LocalPostgres(Path(args.root), args.port, args.database)

    def up() -> int:
        started = time.monotonic()
        if server.up():
            print(f"PostgreSQL listening on {server.address} ({time.monotonic() - started:.0f} s), database "
                  f"{server.state.database}, user {server.state.user}; data, log and state in {server.root}")
        else:
            print(f"PostgreSQL already running at {server.address} (pid {server.running_pid()})")
        print(f"use it: eval \"$(triage postgres env)\"   ({URL_VARIABLE}, the SQLAlchemy URL, and psql's PG*)")
        return ExitCode.OK

    def down() -> int:
        return stopped("PostgreSQL", server.down(), server.root)

    def status() -> int:
        pid = server.running_pid()
        return reported(f"running at {server.address}, database {server.state.database} (pid {pid})"
                        if pid and server.accepting() else None)

    def env() -> int:
        return exported("PostgreSQL", server.environment() if server.running_pid() else None, server.root,
                        "postgres")

    return answered("postgres", {"up": up, "down": down, "status": status, "env": env}[args.action],
                    PostgresError)


def compute(args: Namespace) -> int:
    """`triage compute choose`: the compute profile for a workflow step to export.

        echo "$(triage compute choose)" >> "$GITHUB_ENV"     # TRIAGE_COMPUTE=aws above compute.cloud_above_visits
    """
    from triage.cloud.cohort_size import visits
    from triage.cloud.settings import PROFILE_VARIABLE, choose_profile, compute_settings

    params = config.load_params(args.params)
    print(f"{PROFILE_VARIABLE}={choose_profile(visits(params), compute_settings(params))}")
    return ExitCode.OK
