"""What needs no PostgreSQL server: missing binaries are refused on one line naming what to install or set (through
the finder's argument, $TRIAGE_POSTGRES_BIN and `triage postgres up`), the binaries are looked for newest version
first, and the connection URL is SQLAlchemy's, with any password escaped."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy

from triage.cli import build_parser, main
from triage.errors import ExitCode, UserError
from triage.tooling import postgres
from triage.tooling.postgres import BIN_VARIABLE, PostgresError, State, connection_url, find_binaries

NOT_FOUND = "PostgreSQL not found: install Debian's postgresql package (apt-get install postgresql)"


def test_missing_binaries_are_refused_on_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PostgresError) as refused:
        find_binaries(empty)
    message = str(refused.value)
    assert isinstance(refused.value, UserError) and "\n" not in message
    assert message == (f"{NOT_FOUND}, or set {BIN_VARIABLE} to the folder of initdb, pg_ctl, pg_isready "
                       f"(looked in {empty})")


def test_the_command_line_refuses_missing_binaries_before_touching_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(BIN_VARIABLE, str(tmp_path / "no-such-folder"))
    root = tmp_path / "state"
    assert main(["postgres", "up", "--root", str(root)]) == ExitCode.BAD_INPUT
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"postgres: {NOT_FOUND}")
    assert not root.exists()


def test_the_newest_version_is_found_first(tmp_path, monkeypatch):
    for version in ("9.6", "15", "17"):
        folder = tmp_path / version / "bin"
        folder.mkdir(parents=True)
        for tool in postgres.TOOLS:
            (folder / tool).touch(mode=0o755)
    (tmp_path / "17" / "bin" / "pg_isready").chmod(0o644)  # an incomplete installation is passed over
    monkeypatch.setattr(postgres, "DEBIAN_BINARIES", tmp_path)
    monkeypatch.delenv(BIN_VARIABLE, raising=False)
    assert postgres.candidate_folders(None)[:3] == [tmp_path / v / "bin" for v in ("17", "15", "9.6")]
    assert find_binaries() == tmp_path / "15" / "bin"


def test_the_url_is_sqlalchemys_with_the_password_escaped():
    url = connection_url(State(5433, "omop cdm", "triage", "p@ss/w:rd"))
    assert url == "postgresql+psycopg://triage:p%40ss%2Fw%3Ard@127.0.0.1:5433/omop%20cdm"
    parsed = sqlalchemy.make_url(url)
    assert (parsed.drivername, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "postgresql+psycopg", "p@ss/w:rd", "127.0.0.1", 5433, "omop cdm")


def test_the_command_is_wired_like_the_other_servers():
    args = build_parser().parse_args(["postgres", "env"])
    assert args.handler == "triage.commands.servers:postgres"
    assert (args.root, args.port, args.database) == (".postgres", None, None)
    assert Path(args.root) == postgres.DEFAULT_ROOT
