"""Opening the CDM a contract names: a DuckDB file (read-only), a folder of CDM tables as CSV or Parquet (DuckDB views
over the files, one per table, named by the file's stem in lower case), or any database SQLAlchemy reaches (an URL
such as postgresql+psycopg://...). `env:NAME` reads the location from the environment, so a password never sits in
the contract."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from triage.errors import UserError

FETCH_ROWS = 50_000
TABLE_SUFFIXES = (".csv", ".parquet")


def cdm_location(cdm: str) -> str:
    if not cdm.startswith("env:"):
        return cdm
    name = cdm.removeprefix("env:")
    value = os.environ.get(name)
    if not value:
        raise UserError(f"source.omop.cdm: the environment variable {name} is not set (it names the CDM)")
    return value


def shown_location(location: str) -> str:
    """The location as reports and the manifest name it: an URL without its password."""
    if "://" not in location:
        return location
    from sqlalchemy.engine import make_url

    return make_url(location).render_as_string(hide_password=True)


@dataclass
class DuckCdm:
    connection: Any
    engine: str = "duckdb"

    def columns(self, table: str, schema: str | None) -> set[str] | None:
        rows = self.connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE lower(table_name) = ? "
            "AND (? IS NULL OR table_schema = ?)", [table, schema, schema]).fetchall()
        return {name.lower() for (name,) in rows} or None

    def frames(self, sql: str) -> Iterator[pd.DataFrame]:
        reader = self.connection.sql(sql).to_arrow_reader(FETCH_ROWS)
        for batch in reader:
            yield batch.to_pandas()

    def close(self) -> None:
        self.connection.close()


@dataclass
class SqlAlchemyCdm:
    engine_: Any
    engine: str = "postgresql"

    def columns(self, table: str, schema: str | None) -> set[str] | None:
        from sqlalchemy import inspect

        inspector = inspect(self.engine_)
        if not inspector.has_table(table, schema=schema):
            return None
        return {column["name"].lower() for column in inspector.get_columns(table, schema=schema)}

    def frames(self, sql: str) -> Iterator[pd.DataFrame]:
        from sqlalchemy import text

        with self.engine_.connect().execution_options(stream_results=True) as connection:
            result = connection.execute(text(sql))
            names = list(result.keys())
            while rows := result.fetchmany(FETCH_ROWS):
                yield pd.DataFrame(rows, columns=names)

    def close(self) -> None:
        self.engine_.dispose()


Cdm = Any  # DuckCdm, SqlAlchemyCdm or spark_cdm.SparkCdm: columns(table, schema), frames(sql), close(), engine


def open_cdm(cdm: str) -> Cdm:
    """The CDM at `cdm` (see the module's docstring); refused on one line when it is none of them."""
    location = cdm_location(cdm)
    if "://" in location:
        return open_database(location)
    path = Path(location)
    if path.is_dir():
        return open_folder(path)
    if path.is_file():
        import duckdb

        try:
            return DuckCdm(duckdb.connect(str(path), read_only=True))
        except duckdb.Error as error:
            raise UserError(f"source.omop.cdm: {path} is not a DuckDB database ({error})") from None
    raise UserError(f"source.omop.cdm: {location} is neither a folder of CDM tables, a DuckDB file nor a database URL")


def open_database(url: str) -> SqlAlchemyCdm:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as error:
        raise UserError(f"source.omop.cdm: {shown_location(url)} is not a database URL SQLAlchemy can open "
                        f"({error})") from None
    if engine.dialect.name != "postgresql":
        raise UserError(f"source.omop.cdm: {engine.dialect.name} databases are not supported yet (PostgreSQL is)")
    return SqlAlchemyCdm(engine)


def open_folder(folder: Path) -> DuckCdm:
    import duckdb

    connection = duckdb.connect()
    tables = sorted(path for path in folder.iterdir() if path.suffix.lower() in TABLE_SUFFIXES)
    if not tables:
        raise UserError(f"source.omop.cdm: no CDM tables (*.csv, *.parquet) in {folder}")
    for path in tables:
        quoted = str(path).replace("'", "''")
        reader = (f"read_csv('{quoted}', header = true, sample_size = -1)" if path.suffix.lower() == ".csv"
                  else f"read_parquet('{quoted}')")
        connection.execute(f'CREATE VIEW "{path.stem.lower()}" AS SELECT * FROM {reader}')
    return DuckCdm(connection)
