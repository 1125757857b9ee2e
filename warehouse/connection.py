"""Every DuckDB connection HomeWatch opens goes through this module.

DuckDB allows one writing process per database file, and refuses even a
read-only open while another process writes. So connections here are short
lived, there is one writer at a time, and a busy file gets a bounded retry
followed by an error that says who holds it and what to do.

A warehouse path that is not a DuckDB database (garbage, truncated, another format, a folder)
or that a writing command may not write is refused with a WarehouseUnreadableError or a
WarehouseReadOnlyError (warehouse/errors.py: their exit codes) before anything is changed.
SQL typed by a user (`homewatch query`) runs on a sandboxed connection: see `connect`.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

# transaction and has_table live in a leaf module too (schema.py needs them); importable from here
from warehouse.dbhelpers import has_table, transaction  # noqa: F401 - re-exported
# the error classes live in a leaf module (no import cycle); they are importable from here too
from warehouse.errors import (  # noqa: F401 - re-exported
    QueryError,
    WarehouseBusyError,
    WarehouseError,
    WarehouseReadOnlyError,
    WarehouseUnreadableError,
)
from warehouse.schema import ensure_schema

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB_PATH = REPO_ROOT / "warehouse" / "data" / "homewatch.duckdb"
ENV_DB = "HOMEWATCH_DB"
ENV_WAIT = "HOMEWATCH_DB_WAIT_S"
DEFAULT_WAIT_S = 30.0

DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file, after the header's checksum
_UNREADABLE_HINT = ("Check that --db (or $HOMEWATCH_DB) names the warehouse file; "
                    "restore it from a backup, or move it aside and land the data again into a new one "
                    "(`homewatch simulate` or `homewatch ingest FILE`)")
_READ_ONLY_HINT = ("Give this user write access, or copy the warehouse somewhere "
                   "writable and pass --db; `homewatch query` and `homewatch status` only read and work as it is")
_UNTOUCHED = "HomeWatch changed nothing. "
# how DuckDB words a file it cannot use as a database (at open, or when a damaged block is read)
_DAMAGED = ("not a valid DuckDB database file", "Could not read enough bytes", "Corrupt database file",
            "does not match stored checksum", "Is a directory", "database file with version number")


def resolve_db_path(db: str | os.PathLike | None = None) -> Path:
    """The database path: an explicit argument, else $HOMEWATCH_DB, else the repo default."""
    chosen = db or os.environ.get(ENV_DB) or DEFAULT_DB_PATH
    return Path(chosen).expanduser().resolve()


def utcnow() -> dt.datetime:
    """Now, as the naive UTC timestamp the warehouse stores."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def require_warehouse(db: str | os.PathLike | None = None) -> Path:
    """The warehouse path, which must exist and be a DuckDB file; WarehouseError says how to
    create it, WarehouseUnreadableError what is wrong with it."""
    path = resolve_db_path(db)
    if not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}: run `homewatch simulate` or `homewatch ingest FILE` first"
        )
    check_warehouse_file(path)
    return path


def _what_it_is(head: bytes) -> str:
    for magic, name in ((b"SQLite format 3", "a SQLite database"), (b"PAR1", "a Parquet file"),
                        (b"\x1f\x8b", "a gzip file"), (b"PK\x03\x04", "a zip archive")):
        if head.startswith(magic):
            return f"it is {name}"
    for cut in range(4):   # 16 bytes may end inside a multi-byte character
        try:
            text = head[:len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if all(c.isprintable() or c in "\t\r\n" for c in text):
            return f"it starts with the text {text!r}"
        break
    return "its first bytes are not a DuckDB header"


def check_warehouse_file(path: Path) -> None:
    """Refuse a warehouse path that is a folder, or a file that is not a DuckDB database, before
    DuckDB opens it (DuckDB would try to load an extension for a SQLite file, for one)."""
    if path.is_dir():
        raise WarehouseUnreadableError(
            f"warehouse {path} is a folder, not a DuckDB file: pass --db with the database file itself, "
            f"e.g. {path / 'homewatch.duckdb'}")
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return  # a new warehouse
    except OSError as exc:
        raise WarehouseUnreadableError(
            f"cannot read warehouse {path}: {exc.strerror}. Give this user read access to it, or pass --db "
            "with a copy it can read") from None
    if len(head) < 12:   # DuckDB writes its 4 KiB header as it creates the file
        size = "empty" if not head else f"only {len(head)} bytes"
        raise WarehouseUnreadableError(f"{path} is not a DuckDB database (it is {size}; if another HomeWatch "
                                       f"command is creating it this instant, try again). {_UNTOUCHED}"
                                       f"{_UNREADABLE_HINT}")
    if head[8:12] != DUCKDB_MAGIC:
        raise WarehouseUnreadableError(f"{path} is not a DuckDB database ({_what_it_is(head)}). {_UNTOUCHED}"
                                       f"{_UNREADABLE_HINT}")


def check_writable(path: Path) -> None:
    """A writing command needs the file and its folder writable: DuckDB writes its journal
    (`<file>.wal`) next to the file, as the job does its run lock and dbt its artifacts."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise WarehouseReadOnlyError(f"cannot create the folder {folder} for warehouse {path}: "
                                         f"{exc.strerror}. {_UNTOUCHED}Pass --db with a path in a folder "
                                         "this user may write") from None
        raise WarehouseError(f"cannot create the folder {folder} for warehouse {path}: {exc.strerror}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise WarehouseReadOnlyError(f"warehouse {path} is read-only for this user, and this command writes "
                                     f"to it. {_UNTOUCHED}{_READ_ONLY_HINT}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WarehouseReadOnlyError(f"the folder {folder} of warehouse {path} is read-only for this user, and "
                                     f"this command writes there ({path.name}.wal, {path.name}.lock). "
                                     f"{_UNTOUCHED}{_READ_ONLY_HINT}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(" .!") if text else type(exc).__name__


def warehouse_error_for(path: Path, exc: Exception, *, writing: bool = True,
                        untouched: bool = False) -> WarehouseError | None:
    """The WarehouseError a DuckDB error on the warehouse file amounts to: a damaged or foreign
    file, or one this user may not write; None for any other error. `untouched`: the error came
    before anything was written (the message says so)."""
    text, said = str(exc), _UNTOUCHED if untouched else ""
    if any(marker in text for marker in _DAMAGED):
        return WarehouseUnreadableError(f"warehouse {path} cannot be read: {_first_line(exc)}. "
                                        f"{said}{_UNREADABLE_HINT}")
    if "Permission denied" in text or "Read-only file system" in text:
        if writing:
            return WarehouseReadOnlyError(f"cannot write warehouse {path}: {_first_line(exc)}. "
                                          f"{said}{_READ_ONLY_HINT}")
        return WarehouseUnreadableError(f"cannot read warehouse {path}: {_first_line(exc)}. {said}Give this user "
                                        "read access to it, or pass --db with a copy it can read")
    return None


def query_error(path: Path, exc: Exception) -> WarehouseError:
    """One line for a DuckDB error from SQL a user typed on a sandboxed connection, saying so
    when the sandbox refused the statement."""
    known = warehouse_error_for(path, exc, writing=False, untouched=True)   # the connection is read-only
    if known is not None:
        return known
    text = str(exc)
    # DuckDB adds the statement and a ^^^ marker on lines of their own: keep the message
    detail = " ".join(line.strip() for line in text.splitlines()
                      if line.strip() and not line.strip().startswith("LINE ") and set(line.strip()) != {"^"})
    if isinstance(exc, duckdb.PermissionException):
        return QueryError("refused: `homewatch query` reads this warehouse only: no other files, no other "
                          f"databases, no extensions ({detail})")
    if "configuration has been locked" in text:
        return QueryError(f"refused: `homewatch query` cannot change DuckDB settings ({detail})")
    if "read-only mode" in text:
        return QueryError(f"refused: `homewatch query` is read-only, it cannot change the warehouse ({detail})")
    return QueryError(f"the query failed: {detail}")


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def connect(
    db: str | os.PathLike | None = None,
    *,
    read_only: bool = False,
    sandboxed: bool = False,
    wait_s: float | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, retrying while another process holds the file.

    Raises WarehouseBusyError after `wait_s` seconds (default $HOMEWATCH_DB_WAIT_S
    or 30 s), WarehouseError when a read-only open finds no database,
    WarehouseUnreadableError for a file that is not a DuckDB database (or is damaged), and
    WarehouseReadOnlyError when a writing open may not write the file or its folder.

    `sandboxed=True` (read-only opens only) is the connection for SQL a user types: DuckDB
    itself refuses everything but reading this warehouse. `enable_external_access=false` stops
    COPY, EXPORT, ATTACH, INSTALL/LOAD of extensions, secrets and every file reader
    (read_csv, read_text, glob, `from 'file'`...), and `lock_configuration=true` stops SET,
    RESET and PRAGMA from turning any of that back on; read_only refuses every change to the
    warehouse itself. A string filter could be talked round; these settings cannot.
    """
    if sandboxed and not read_only:
        raise ValueError("a sandboxed connection is read-only")
    path = require_warehouse(db) if read_only else resolve_db_path(db)
    if not read_only:
        check_warehouse_file(path)
        check_writable(path)
    if wait_s is None:
        wait_s = float(os.environ.get(ENV_WAIT, DEFAULT_WAIT_S))
    # set at open: DuckDB refuses to turn external access back on while the database is open
    config = {"enable_external_access": False} if sandboxed else {}
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
            break
        except duckdb.Error as exc:
            if not (isinstance(exc, duckdb.IOException) and _is_lock_error(exc)):
                known = warehouse_error_for(path, exc, writing=not read_only, untouched=True)
                raise (known or WarehouseError(f"cannot open warehouse {path}: {exc}")) from exc
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"warehouse {path} is locked by another process and stayed locked for "
                    f"{wait_s:.0f} s. Close any DuckDB shell or notebook that has it open, or "
                    f"wait for the running job to finish, then try again. ({exc})"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        # Timestamps are stored as naive UTC; parse and render them in UTC too.
        con.execute("SET TimeZone = 'UTC'")
        if sandboxed:
            con.execute("SET lock_configuration = true")  # last: no setting changes after this one
    except BaseException:
        con.close()
        raise
    return con


@contextlib.contextmanager
def writer(db: str | os.PathLike | None = None, **kw) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived writing connection with the schema brought up to date."""
    con = connect(db, **kw)
    try:
        ensure_schema(con)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def reader(db: str | os.PathLike | None = None, **kw) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection; `sandboxed=True` for SQL a user typed (see `connect`)."""
    con = connect(db, read_only=True, **kw)
    try:
        yield con
    finally:
        con.close()

