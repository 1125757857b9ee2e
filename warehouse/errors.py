"""The warehouse's errors and the exit codes of every `homewatch` command, in one leaf module:
it imports nothing from the project, so anything may import it without a cycle.

docs/warehouse.md ("Exit codes") shows the same table as EXIT_CODES. An error class carries its
exit code (`exit_code`); `scripts/cli.py` prints the error on one line and exits with it.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_QUALITY_FAILED = 1        # a critical data-quality check failed (`check`, `batch`)
EXIT_ERROR = 2                 # anything else that went wrong: bad input, a failed step, an SQL error
EXIT_WAREHOUSE_UNREADABLE = 3  # the warehouse file is not a DuckDB database, is damaged, or is a folder
EXIT_WAREHOUSE_READ_ONLY = 4   # the command must write the warehouse and may not (permissions, read-only disk)
EXIT_BUSY = 75                 # another run holds the warehouse's run lock (EX_TEMPFAIL: try later)
EXIT_INTERRUPTED = 130         # Ctrl-C or SIGTERM; the warehouse keeps its last committed state

ENV_DEBUG = "HOMEWATCH_DEBUG"  # set (to 1): an unexpected error shows its Python traceback too

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_QUALITY_FAILED: "a critical data-quality check failed",
    EXIT_ERROR: "an error: bad arguments or input, a failed step, an SQL error or refused statement in "
                "`homewatch query`, a warehouse file another process kept locked past the wait",
    EXIT_WAREHOUSE_UNREADABLE: "the warehouse cannot be read: not a DuckDB file, damaged or truncated, or a folder",
    EXIT_WAREHOUSE_READ_ONLY: "the command must write the warehouse (or the files next to it) and cannot",
    EXIT_BUSY: "another run holds the warehouse's run lock; try again later",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C, SIGTERM); the warehouse keeps its last committed state",
}


class WarehouseError(RuntimeError):
    """A problem with the warehouse that the user can act on."""

    exit_code = EXIT_ERROR


class WarehouseBusyError(WarehouseError):
    """The database file is locked by another process."""


class WarehouseUnreadableError(WarehouseError):
    """The warehouse path is not a DuckDB database HomeWatch can read (garbage, truncated, damaged,
    another format, a folder). Nothing was changed on disk."""

    exit_code = EXIT_WAREHOUSE_UNREADABLE


class WarehouseReadOnlyError(WarehouseError):
    """The command must write the warehouse, and the file or its folder may not be written."""

    exit_code = EXIT_WAREHOUSE_READ_ONLY


class QueryError(WarehouseError):
    """`homewatch query` refused a statement or DuckDB failed to run it."""
