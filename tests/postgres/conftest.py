"""A real PostgreSQL server for this folder's tests, started and stopped by the project's own tooling
(triage.tooling.postgres) in a temporary folder. Without PostgreSQL the tests skip, except under CI=true, where they
fail: .ci/run installs Debian's postgresql package."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from triage.tooling.postgres import LocalPostgres, PostgresError, find_binaries


def postgres_binaries() -> Path:
    """Debian's PostgreSQL binaries; the calling test skips without them, or fails under CI=true."""
    try:
        return find_binaries()
    except PostgresError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{error} (.ci/run installs it)")
        pytest.skip(str(error))


@contextlib.contextmanager
def reachable_folder() -> Iterator[Path]:
    """A new folder straight under the temporary directory, removed after. Not pytest's tmp_path: as root the server
    runs as the `postgres` user, who cannot enter /tmp/pytest-of-root (mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="triage-postgres-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def binaries() -> Path:
    return postgres_binaries()


@pytest.fixture()
def scratch_root(binaries) -> Iterator[Path]:
    with reachable_folder() as folder:
        yield folder


@pytest.fixture(scope="module")
def server() -> Iterator[LocalPostgres]:
    """A server of this module's tests, stopped after them (nothing left running even when a test failed)."""
    postgres_binaries()
    with reachable_folder() as folder:
        instance = LocalPostgres(folder)
        instance.up()
        try:
            yield instance
        finally:
            instance.down()
