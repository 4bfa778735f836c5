"""A real PostgreSQL server on loopback, from Debian's `postgresql` package (the OMOP CDM database and its tests).

`triage postgres up` / `make postgres-up` starts it under `.postgres/`: `data/` (the cluster, made by initdb on the
first start), `postgres.log`, `state.json` (port, database, user, password, pid) and the Unix socket
(`unix_socket_directories` is this folder, never /var/run/postgresql). It listens on 127.0.0.1 only, on a free port
unless one is given; a later start keeps the last port, so the URL stays the same. `triage postgres down` stops it
(fast mode); the data stays. Tests start their own server in a temporary folder.

Authentication is scram-sha-256 with a generated password, not `trust`: on 127.0.0.1 trust would let every process
of every user of the machine in as the superuser (loopback does not say who connects). The password is in
`state.json`, mode 0600, and printed only by `triage postgres env` (as `TRIAGE_OMOP_URL` and `PGPASSWORD`).

initdb refuses to run as root, and CI runs as root: then initdb and pg_ctl run as Debian's `postgres` system user
(`runuser -u postgres --`), which owns the state folder; every folder above it must be searchable by that user
(/tmp and a world-readable checkout are; /root and pytest's folders of root are not).

The binaries: `bin_dir` or `$TRIAGE_POSTGRES_BIN` if given, else /usr/lib/postgresql/<version>/bin, newest version
first (Debian keeps initdb off PATH), else the folder of the `initdb` on PATH.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import secrets
import shlex
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from triage.errors import UserError
from triage.tooling.ports import HOST, free_port, port_taken
from triage.tooling.server_files import log_tail, write_private

LOG = logging.getLogger(__name__)
DEFAULT_ROOT = Path(".postgres")
DEFAULT_DATABASE = "triage"
USER = "triage"  # the cluster's superuser (initdb -U)
SYSTEM_USER = "postgres"  # Debian's package creates it; initdb and pg_ctl run as it when we are root
BIN_VARIABLE = "TRIAGE_POSTGRES_BIN"
URL_VARIABLE = "TRIAGE_OMOP_URL"
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
TOOLS = ("initdb", "pg_ctl", "pg_isready")
SOCKET_PATH_MAX = 107  # sun_path less its terminating NUL
INSTALL = "install Debian's postgresql package (apt-get install postgresql)"


class PostgresError(UserError):
    """PostgreSQL cannot start or stop here as asked; the message says what to install or change."""


# -- the binaries and who runs them ------------------------------------------------------------------------------


def _version(folder: Path) -> tuple[int, ...]:
    """(16,) for /usr/lib/postgresql/16/bin; () for a folder whose name is no version."""
    try:
        return tuple(int(part) for part in folder.parent.name.split("."))
    except ValueError:
        return ()


def candidate_folders(bin_dir: Path | None) -> list[Path]:
    if bin_dir is not None:
        return [bin_dir]
    on_path = shutil.which("initdb")
    return [*sorted(DEBIAN_BINARIES.glob("*/bin"), key=_version, reverse=True),
            *([Path(on_path).resolve().parent] if on_path else [])]


def find_binaries(bin_dir: Path | str | None = None) -> Path:
    """The folder holding initdb, pg_ctl and pg_isready (`bin_dir`, else $TRIAGE_POSTGRES_BIN, else searched)."""
    chosen = bin_dir if bin_dir is not None else os.environ.get(BIN_VARIABLE) or None
    folders = candidate_folders(None if chosen is None else Path(chosen))
    for folder in folders:
        if all(os.access(folder / tool, os.X_OK) for tool in TOOLS):
            return folder
    looked = ", ".join(map(str, folders)) or f"{DEBIAN_BINARIES}/*/bin and PATH"
    raise PostgresError(f"PostgreSQL not found: {INSTALL}, or set {BIN_VARIABLE} to the folder of "
                        f"{', '.join(TOOLS)} (looked in {looked})")


@dataclass(frozen=True)
class ServerUser:
    """Who runs initdb and pg_ctl: this user, or, as root (which initdb refuses), the `postgres` system user."""

    prefix: tuple[str, ...] = ()
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_this_process(cls) -> ServerUser:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresError(f"running as root, and initdb refuses root: there is no `{SYSTEM_USER}` system user "
                                f"to run PostgreSQL as: {INSTALL} (it creates that user)") from None
        runuser = shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
        if runuser is None:
            raise PostgresError("running as root needs `runuser` to start PostgreSQL as the postgres user: "
                                "apt-get install util-linux")
        return cls((runuser, "-u", SYSTEM_USER, "--"), entry.pw_uid, entry.pw_gid)

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


# -- the state file and the URL ----------------------------------------------------------------------------------


@dataclass
class State:
    """What `up` records in state.json (mode 0600: it holds the password), so every command finds the server."""

    port: int
    database: str
    user: str
    password: str
    pid: int | None = None

    @classmethod
    def load(cls, path: Path) -> State | None:
        return cls(**json.loads(path.read_text())) if path.exists() else None

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self)))


def connection_url(state: State) -> str:
    """The SQLAlchemy URL of the server (the psycopg 3 driver)."""
    return (f"postgresql+psycopg://{quote(state.user, safe='')}:{quote(state.password, safe='')}@{HOST}:"
            f"{state.port}/{quote(state.database, safe='')}")


# -- the server --------------------------------------------------------------------------------------------------


class LocalPostgres:
    """One PostgreSQL cluster rooted in a folder (data, log, state, socket), served on 127.0.0.1."""

    def __init__(self, root: Path = DEFAULT_ROOT, port: int | None = None, database: str | None = None,
                 bin_dir: Path | str | None = None):
        self.root = Path(root).resolve()
        self.data_dir, self.log_file = self.root / "data", self.root / "postgres.log"
        self.state_file = self.root / "state.json"  # port, database, user, password, pid (mode 0600)
        self.bin_dir = bin_dir
        recorded = State.load(self.state_file)
        if recorded is not None and self.running_pid():
            self.state = recorded  # a running server of this root: up reuses it, down/status/env act on it
            return
        self.state = recorded or State(0, DEFAULT_DATABASE, USER, secrets.token_hex(24))
        self.state.port = port or self.state.port
        self.state.database = database or self.state.database

    @property
    def url(self) -> str:
        return connection_url(self.state)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.state.port}"

    def environment(self) -> dict[str, str]:
        """What a client needs: the SQLAlchemy URL, and the same as libpq's variables (psql, pg_dump)."""
        return {URL_VARIABLE: self.url, "PGHOST": HOST, "PGPORT": str(self.state.port), "PGUSER": self.state.user,
                "PGDATABASE": self.state.database, "PGPASSWORD": self.state.password}

    def running_pid(self) -> int | None:
        """The postmaster's pid (data/postmaster.pid) while that process is a postgres of this data folder."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.data_dir).encode() in command_line else None

    def up(self, timeout: float = 60) -> bool:
        """Start the server (initdb on the first start), wait until pg_isready says it accepts connections and
        create the database; False when it was already running (then it is reused as it is)."""
        if self.running_pid():
            return False
        binaries, user = find_binaries(self.bin_dir), ServerUser.for_this_process()
        self.state.port = self.state.port or free_port()
        if port_taken(self.state.port):
            raise PostgresError(f"port {self.state.port} on {HOST} is in use (another server?): stop it or choose "
                                "another with --port")
        self._prepare_root(user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(binaries, user)
        try:
            self._start(binaries, user, timeout)
            self._create_database()
        except BaseException:
            self.down()  # nothing is left running after a failed start
            raise
        self.state.pid = self.running_pid()
        self.state.save(self.state_file)
        return True

    def _prepare_root(self, user: ServerUser) -> None:
        if (self.data_dir / "PG_VERSION").exists() and not self.state_file.exists():
            raise PostgresError(f"{self.data_dir} exists but {self.state_file} (its password) is missing: remove "
                                f"{self.root} to start afresh")
        if len(str(self.root / ".s.PGSQL.65535")) > SOCKET_PATH_MAX:
            raise PostgresError(f"{self.root} is too long a path for PostgreSQL's Unix socket: choose a shorter "
                                "--root")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        user.own(self.root)
        if subprocess.run([*user.prefix, "test", "-w", str(self.root)], stdin=subprocess.DEVNULL).returncode:
            who = f"the {SYSTEM_USER} user" if user.prefix else "this user"
            raise PostgresError(f"{who} cannot write {self.root} (a folder above it is not searchable by it): choose "
                                "a --root it can reach, e.g. under /tmp")
        self.state.save(self.state_file)  # the password is kept before initdb uses it

    def _initdb(self, binaries: Path, user: ServerUser) -> None:
        LOG.info("initdb %s (superuser %s, scram-sha-256)", self.data_dir, self.state.user)
        password_file = self.root / "initdb.password"
        write_private(password_file, self.state.password)
        user.own(password_file)  # initdb reads it as the server user
        try:
            self._run(user, [str(binaries / "initdb"), "-D", str(self.data_dir), "-U", self.state.user,
                             "--auth=scram-sha-256", f"--pwfile={password_file}", "--encoding=UTF8", "--no-locale"],
                      "initdb")
        finally:
            password_file.unlink(missing_ok=True)

    def _start(self, binaries: Path, user: ServerUser, timeout: float) -> None:
        LOG.info("starting PostgreSQL on %s (data %s)", self.address, self.data_dir)
        options = f"-c listen_addresses={HOST} -p {self.state.port} -k {shlex.quote(str(self.root))}"
        self._run(user, [str(binaries / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                         "-o", options, "-w", "-t", str(int(timeout)), "-s"], "pg_ctl start", timeout + 10)
        deadline = time.monotonic() + timeout
        while not self.accepting(binaries):
            if time.monotonic() > deadline or not self.running_pid():
                raise PostgresError(f"PostgreSQL does not accept connections on {self.address}; "
                                    f"{log_tail(self.log_file)}")
            time.sleep(0.3)

    def accepting(self, binaries: Path | None = None) -> bool:
        """pg_isready's verdict on 127.0.0.1:port: accepting connections (exit 0)."""
        command = [str((binaries or find_binaries(self.bin_dir)) / "pg_isready"), "-q", "-h", HOST,
                   "-p", str(self.state.port), "-U", self.state.user, "-d", "postgres", "-t", "3"]
        return subprocess.run(command, stdin=subprocess.DEVNULL, timeout=30).returncode == 0

    def _create_database(self) -> None:
        try:
            import psycopg
            from psycopg import sql
        except ImportError:
            raise PostgresError("psycopg is not installed: pip install -e '.[omop]' (make setup installs it)") from None
        with psycopg.connect(host=HOST, port=self.state.port, user=self.state.user, password=self.state.password,
                             dbname="postgres", autocommit=True, connect_timeout=10) as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.state.database,))
            if found.fetchone() is None:
                LOG.info("creating the database %s", self.state.database)
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.state.database)))

    def down(self, timeout: float = 60) -> bool:
        """Stop the server (fast mode: sessions are ended, then a clean shutdown; immediate if that hangs).
        False when nothing was running."""
        pid = self.running_pid()
        if pid is None:
            return False
        binaries, user = find_binaries(self.bin_dir), ServerUser.for_this_process()
        for mode in ("fast", "immediate"):
            LOG.info("stopping PostgreSQL (pid %s, %s mode)", pid, mode)
            self._run(user, [str(binaries / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w",
                             "-t", str(int(timeout)), "-s"], "pg_ctl stop", timeout + 10, check=False)
            if self.running_pid() is None:
                self.state.pid = None
                self.state.save(self.state_file)
                return True
        raise PostgresError(f"PostgreSQL (pid {pid}) did not stop; {log_tail(self.log_file)}")

    def _run(self, user: ServerUser, command: list[str], what: str, timeout: float = 120,
             check: bool = True) -> None:
        """A PostgreSQL program as the server user, from the state folder (which that user can enter)."""
        result = subprocess.run([*user.prefix, *command], cwd=self.root, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            said = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
            raise PostgresError(f"{what} failed (exit {result.returncode}): {said}; {log_tail(self.log_file)}")
