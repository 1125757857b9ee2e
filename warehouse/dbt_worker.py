"""A dbt process that runs several dbt commands in a row: `python -m warehouse.dbt_worker`.

Each `dbt` command line pays Python's start and dbt's imports (about 3.5 s on 2 cores) before
it runs anything; the batch job runs dbt twice (the build, then the marts after scoring), so
it keeps one of these workers instead (warehouse/transform.py, `dbt_session`). It is still a child process, as `dbt` is: the
warehouse is opened only while a command runs, never by the job and dbt at once.

Protocol: one JSON list of dbt arguments per line on stdin; dbt's own output on stdout, then
`__homewatch_dbt_done__ <exit code>` (0 ok, 1 a model or test failed, 2 dbt could not run);
the worker exits when stdin closes.
"""
from __future__ import annotations

import json
import sys

DONE = "__homewatch_dbt_done__"


def _close_warehouse() -> None:
    """dbt-duckdb keeps its DuckDB instance in a class attribute; close it after each command
    so the file is free for the job until the next one (dbt reopens it when it needs it)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
        DuckDBConnectionManager._ENV = None
    except Exception:  # noqa: BLE001 - best effort: a one-shot `dbt` would have exited here
        pass


def main() -> int:
    from dbt.cli.main import dbtRunner

    for line in sys.stdin:
        args = json.loads(line)
        code = 2
        try:
            result = dbtRunner().invoke(args)
            code = 0 if result.success else (2 if result.exception is not None else 1)
            if result.exception is not None:
                print(f"Encountered an error:\n{result.exception}", flush=True)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
            print(f"Encountered an error:\n{type(exc).__name__}: {exc}", flush=True)
            if isinstance(exc, KeyboardInterrupt):
                raise
        finally:
            _close_warehouse()
            sys.stdout.flush()
        print(f"{DONE} {code}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
