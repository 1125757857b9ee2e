"""Run the dbt project (dbt_project/) against the warehouse.

dbt runs in a child process: it opens the DuckDB file itself, and a second
connection to the same file from this process would conflict with its settings.
The child gets the warehouse path through $HOMEWATCH_DB, as profiles.yml reads it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from warehouse.connection import REPO_ROOT, WarehouseBusyError, WarehouseError, require_warehouse
from warehouse.lock import held_fds

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
_RESULT_LINE = re.compile(r"\d+ of \d+ (OK|PASS|ERROR|FAIL|WARN|SKIP)|Done\. PASS=|Finished running")
_FAILURE_LINE = re.compile(r"(ERROR|FAIL)\b|Error|Failure in")


class TransformError(WarehouseError):
    """dbt reported a failure."""


def dbt_executable() -> str:
    """The dbt of this environment (next to this Python), else whatever is on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: Sequence[str],
    *,
    db=None,
    dbt_vars: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Run `dbt <args>` on the warehouse; return its output, raise TransformError on failure."""
    path = require_warehouse(db)
    command = [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if dbt_vars:
        import json

        command += ["--vars", json.dumps(dbt_vars)]
    env = {**os.environ, "HOMEWATCH_DB": str(path), "DO_NOT_TRACK": "1", "DBT_USE_COLORS": "false"}
    lines: list[str] = []
    # pass_fds: dbt inherits the run lock (warehouse/lock.py), so a dbt left running by a
    # killed parent still holds it until it exits
    with subprocess.Popen(command, cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, pass_fds=held_fds()) as proc:
        for line in proc.stdout:
            line = line.rstrip()
            lines.append(line)
            if progress and _RESULT_LINE.search(line):
                progress(line.split("  ", 1)[-1].strip())
    output = "\n".join(lines)
    if proc.returncode != 0 and ("Could not set lock" in output or "Conflicting lock" in output):
        raise WarehouseBusyError(
            f"dbt could not open warehouse {path}: another process holds it (a DuckDB shell or notebook, "
            "or another job). Close it, then run again; the build resumes where it stopped."
        )
    if proc.returncode != 0:
        failures = [ln.strip() for ln in lines if _FAILURE_LINE.search(ln)][-12:]
        raise TransformError(
            f"dbt {args[0]} failed (exit {proc.returncode}) on {path}:\n  " + "\n  ".join(failures)
            + f"\nfull log: {DBT_PROJECT_DIR / 'logs' / 'dbt.log'}"
        )
    return output


def _migrate(db) -> None:
    """Bring the warehouse's own tables up to date first: dbt reads ml.* and dq.* as sources,
    and a warehouse landed by an older version may lack them."""
    from warehouse.connection import writer

    with writer(db):  # opening a writer applies pending migrations
        pass


def build(*, db=None, full_refresh: bool = False, select: str | None = None,
          dbt_vars: dict | None = None, unit_tests: bool = False, progress=None) -> str:
    """`dbt build`: models, seeds and data tests; incremental unless full_refresh.

    Unit tests check the SQL's logic on hand-written rows, not the data: they run in the
    test suite and CI (unit_tests=True, or `dbt build` by hand), not on every production build.
    """
    _migrate(db)
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    return run_dbt(args, db=db, dbt_vars=dbt_vars, progress=progress)


def unit_test(*, db=None, progress=None) -> str:
    """Run the dbt unit tests (hand-written rows; they read nothing from the warehouse)."""
    return run_dbt(["test", "--select", "test_type:unit"], db=db, progress=progress)
