"""Every DuckDB connection HomeWatch opens goes through this module.

DuckDB allows one writing process per database file, and refuses even a
read-only open while another process writes. So connections here are short
lived, there is one writer at a time, and a busy file gets a bounded retry
followed by an error that says who holds it and what to do.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB_PATH = REPO_ROOT / "warehouse" / "data" / "homewatch.duckdb"
ENV_DB = "HOMEWATCH_DB"
ENV_WAIT = "HOMEWATCH_DB_WAIT_S"
DEFAULT_WAIT_S = 30.0


class WarehouseError(RuntimeError):
    """A problem with the warehouse that the user can act on."""


class WarehouseBusyError(WarehouseError):
    """The database file is locked by another process."""


def resolve_db_path(db: str | os.PathLike | None = None) -> Path:
    """The database path: an explicit argument, else $HOMEWATCH_DB, else the repo default."""
    chosen = db or os.environ.get(ENV_DB) or DEFAULT_DB_PATH
    return Path(chosen).expanduser().resolve()


def utcnow() -> dt.datetime:
    """Now, as the naive UTC timestamp the warehouse stores."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def require_warehouse(db: str | os.PathLike | None = None) -> Path:
    """The warehouse path, which must exist; WarehouseError says how to create it."""
    path = resolve_db_path(db)
    if not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}: run `homewatch simulate` or `homewatch ingest FILE` first"
        )
    return path


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def connect(
    db: str | os.PathLike | None = None,
    *,
    read_only: bool = False,
    wait_s: float | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, retrying while another process holds the file.

    Raises WarehouseBusyError after `wait_s` seconds (default $HOMEWATCH_DB_WAIT_S
    or 30 s) and WarehouseError when a read-only open finds no database.
    """
    path = require_warehouse(db) if read_only else resolve_db_path(db)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    if wait_s is None:
        wait_s = float(os.environ.get(ENV_WAIT, DEFAULT_WAIT_S))
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"warehouse {path} is locked by another process and stayed locked for "
                    f"{wait_s:.0f} s. Close any DuckDB shell or notebook that has it open, or "
                    f"wait for the running job to finish, then try again. ({exc})"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    # Timestamps are stored as naive UTC; parse and render them in UTC too.
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextlib.contextmanager
def writer(db: str | os.PathLike | None = None, **kw) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived writing connection with the schema brought up to date."""
    from warehouse.schema import ensure_schema

    con = connect(db, **kw)
    try:
        ensure_schema(con)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def reader(db: str | os.PathLike | None = None, **kw) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection."""
    con = connect(db, read_only=True, **kw)
    try:
        yield con
    finally:
        con.close()


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
