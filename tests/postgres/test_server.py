"""A real PostgreSQL server on 127.0.0.1 (Debian's binaries, started by triage.tooling.postgres): it answers
SQLAlchemy with real queries under its generated password only, `up` again reuses it, the command line finds it,
`down` leaves no process and a closed port, and a restart keeps the port and the data; a busy port and, as root, a
folder the postgres user cannot enter are refused with one line."""

from __future__ import annotations

import argparse
import os
import pwd
import socket
import stat
from pathlib import Path

import pytest
import sqlalchemy

from triage.commands import servers
from triage.errors import ExitCode
from triage.tooling.ports import HOST, free_port, port_taken
from triage.tooling.postgres import SYSTEM_USER, URL_VARIABLE, LocalPostgres, PostgresError, State

pytestmark = pytest.mark.slow


def process_table() -> dict[int, tuple[int, str, bytes]]:
    """{pid: (parent pid, state letter, command line)} of every process, read from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                table[int(entry.name)] = (int(fields[1]), fields[0], (entry / "cmdline").read_bytes())
            except (OSError, IndexError):
                continue
    return table


def live(table: dict[int, tuple[int, str, bytes]]) -> dict[int, tuple[int, str, bytes]]:
    return {pid: row for pid, row in table.items() if row[1] != "Z"}


def cli(server: LocalPostgres, action: str) -> int:
    return servers.postgres(argparse.Namespace(action=action, root=str(server.root), port=None, database=None))


def query(url: str, *statements: str) -> list[tuple]:
    """Run the statements in one transaction; the rows of the last one."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                result = connection.execute(sqlalchemy.text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_sqlalchemy_creates_writes_and_reads_a_table(server):
    assert server.url.startswith(f"postgresql+psycopg://triage:{server.state.password}@{HOST}:{server.state.port}/")
    rows = query(server.url, "CREATE TABLE person (person_id bigint PRIMARY KEY, year_of_birth int NOT NULL)",
                 "INSERT INTO person VALUES (1, 1950), (2, 1987), (3, 2011)",
                 "SELECT person_id, year_of_birth FROM person ORDER BY person_id")
    assert rows == [(1, 1950), (2, 1987), (3, 2011)]
    settings = query(server.url, "SELECT current_database(), current_user, current_setting('listen_addresses'), "
                     "current_setting('unix_socket_directories'), current_setting('password_encryption')")
    assert settings == [("triage", "triage", HOST, str(server.root), "scram-sha-256")]


def test_only_the_generated_password_gets_in(server):
    wrong = sqlalchemy.make_url(server.url).set(password="not-the-password")
    with pytest.raises(sqlalchemy.exc.OperationalError, match="password authentication failed"):
        query(wrong.render_as_string(hide_password=False), "SELECT 1")


def test_the_state_is_private_and_the_server_runs_as_the_right_user(server):
    assert stat.S_IMODE(server.state_file.stat().st_mode) == 0o600
    recorded = State.load(server.state_file)
    assert recorded == server.state and recorded.pid == server.running_pid()
    owner = pwd.getpwnam(SYSTEM_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert Path(f"/proc/{recorded.pid}").stat().st_uid == owner  # as root: Debian's postgres user, never root
    assert not Path("/var/run/postgresql", f".s.PGSQL.{recorded.port}").exists()
    assert (server.root / f".s.PGSQL.{recorded.port}").is_socket()


def test_up_again_reuses_the_running_server(server, capsys):
    pid, port = server.running_pid(), server.state.port
    assert server.up() is False
    other = LocalPostgres(server.root, port=free_port(), database="elsewhere")  # a running server wins
    assert other.up() is False and other.running_pid() == pid and other.state.port == port
    assert cli(server, "up") == ExitCode.OK
    assert f"already running at {HOST}:{port} (pid {pid})" in capsys.readouterr().out


def test_the_command_line_reports_and_exports_the_server(server, capsys):
    assert cli(server, "status") == ExitCode.OK
    assert f"running at {HOST}:{server.state.port}, database triage" in capsys.readouterr().out
    assert cli(server, "env") == ExitCode.OK
    exports = dict(line.removeprefix("export ").split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert exports[URL_VARIABLE] == server.url
    assert exports["PGPORT"] == str(server.state.port) and exports["PGHOST"] == HOST
    assert query(exports[URL_VARIABLE], "SELECT count(*) FROM person") == [(3,)]


def test_down_leaves_no_process_and_a_closed_port(server, capsys):
    pid, port = server.running_pid(), server.state.port
    family = {pid} | {child for child, (parent, _, _) in live(process_table()).items() if parent == pid}
    assert len(family) >= 4  # the postmaster, its checkpointer, background writer, walwriter, ...
    assert server.down() is True
    running = live(process_table())
    assert family & set(running) == set(), f"still running after down(): {family & set(running)}"
    assert [p for p, (_, _, command) in running.items() if str(server.data_dir).encode() in command] == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=3).close()
    assert not port_taken(port) and server.running_pid() is None and State.load(server.state_file).pid is None
    assert server.down() is False
    assert cli(server, "status") == ExitCode.FAILED_CHECK and cli(server, "env") == ExitCode.FAILED_CHECK
    assert "not running" in capsys.readouterr().out


def test_a_restart_keeps_the_port_and_the_data(server):
    port = server.state.port
    restarted = LocalPostgres(server.root)
    assert restarted.up() is True
    assert restarted.state.port == port and restarted.url == server.url
    assert query(restarted.url, "SELECT count(*) FROM person") == [(3,)]
    assert restarted.down() is True


def test_a_busy_port_is_refused_with_one_line(scratch_root):
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PostgresError) as refused:
            LocalPostgres(scratch_root, port=port).up()
    assert str(refused.value) == (f"port {port} on {HOST} is in use (another server?): stop it or choose another "
                                  "with --port")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to the postgres user")
def test_as_root_a_folder_the_postgres_user_cannot_enter_is_refused(binaries, tmp_path):
    assert stat.S_IMODE(tmp_path.parent.parent.stat().st_mode) & 0o001 == 0  # pytest's folders of root: 0700
    with pytest.raises(PostgresError) as refused:
        LocalPostgres(tmp_path / "postgres").up()
    assert str(refused.value) == (f"the postgres user cannot write {tmp_path / 'postgres'} (a folder above it is "
                                  "not searchable by it): choose a --root it can reach, e.g. under /tmp")
