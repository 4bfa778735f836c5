"""A folder of CDM tables (CSV, as a site exports them) loaded into PostgreSQL: one table per file, named by the file's
stem in lower case, typed as DuckDB reads the file, filled by COPY. For trying the PostgreSQL source on the example
CDM (`triage omop load`), and for the test that compares the two engines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from triage.errors import UserError

POSTGRES_TYPES = {"BIGINT": "BIGINT", "INTEGER": "INTEGER", "DOUBLE": "DOUBLE PRECISION", "DATE": "DATE",
                  "TIMESTAMP": "TIMESTAMP", "VARCHAR": "TEXT", "BOOLEAN": "BOOLEAN"}


def column_types(path: Path) -> list[tuple[str, str]]:
    import duckdb

    quoted = str(path).replace("'", "''")
    described = duckdb.connect().sql(f"DESCRIBE SELECT * FROM read_csv('{quoted}', header = true, sample_size = -1)")
    return [(name, POSTGRES_TYPES.get(kind, "TEXT")) for name, kind, *_ in described.fetchall()]


def load_folder(folder: Path, url: str, progress: Callable[[str], None] = lambda _: None) -> list[str]:
    """Every *.csv of `folder` into the database at `url` (an SQLAlchemy postgresql+psycopg URL); the tables."""
    import psycopg

    tables = sorted(folder.glob("*.csv"))
    if not tables:
        raise UserError(f"no CDM tables (*.csv) in {folder}")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
        for path in tables:
            name = path.stem.lower()
            columns = ", ".join(f'"{column}" {kind}' for column, kind in column_types(path))
            connection.execute(f'CREATE TABLE "{name}" ({columns})')
            statement = f'COPY "{name}" FROM STDIN WITH (FORMAT csv, HEADER true)'
            with connection.cursor().copy(statement) as copy, path.open("rb") as source:
                while block := source.read(1 << 20):
                    copy.write(block)
            connection.execute(f'ANALYZE "{name}"')  # the planner's statistics, as a live CDM has them
            progress(f"{name}: loaded from {path.name}")
    return [path.stem.lower() for path in tables]
