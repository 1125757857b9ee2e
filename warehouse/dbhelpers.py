"""Small helpers over an open DuckDB connection, in a leaf module (it imports nothing from the
project), so warehouse/schema.py and warehouse/connection.py can share them without a cycle.
Both are importable from warehouse.connection too."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether the warehouse has this table (or view) yet: some appear only after a build or a score."""
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, table]).fetchone()[0])


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends, roll back when it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
