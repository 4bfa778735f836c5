"""`triage s3`, `triage spark`, `triage compute`: the servers the project starts on this machine, and where the heavy
stages run."""

from __future__ import annotations

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
        print("stopped" if server.stop() else f"no S3 server was running from {server.root}")
        return ExitCode.OK

    def status() -> int:
        pid = server.running_pid()
        print(f"running at {server.endpoint} (pid {pid})" if pid else "not running")
        return ExitCode.OK if pid else ExitCode.FAILED_CHECK

    def env() -> int:
        for key, value in server.environment().items():
            print(f"export {key}={value}")
        return ExitCode.OK

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
        print("stopped" if cluster.down() else f"no Spark cluster was running from {cluster.root}")
        return ExitCode.OK

    def status() -> int:
        found = cluster.status()
        print(f"running at {found['master_url']} with {found['alive_workers']} ALIVE workers, web UI "
              f"{found['webui_url']}" if found["running"] else "not running")
        return ExitCode.OK if found["running"] else ExitCode.FAILED_CHECK

    def env() -> int:
        if not cluster.running():
            print(f"no Spark cluster is running from {cluster.root}: `triage spark up`", file=sys.stderr)
            return ExitCode.FAILED_CHECK
        print(f"export {MASTER_ENV}={cluster.master_url}")
        return ExitCode.OK

    return answered("spark", {"up": up, "down": down, "status": status, "env": env}[args.action], SparkClusterError)


def compute(args: Namespace) -> int:
    """`triage compute choose`: the compute profile for a workflow step to export.

        echo "$(triage compute choose)" >> "$GITHUB_ENV"     # TRIAGE_COMPUTE=aws above compute.cloud_above_visits
    """
    from triage.cloud.cohort_size import visits
    from triage.cloud.settings import PROFILE_VARIABLE, choose_profile, compute_settings

    params = config.load_params(args.params)
    print(f"{PROFILE_VARIABLE}={choose_profile(visits(params), compute_settings(params))}")
    return ExitCode.OK
