"""Run the dbt project (dbt_project/) against the warehouse.

dbt runs in a child process: it opens the DuckDB file itself, and a second
connection to the same file from this process would conflict with its settings.
The child gets the warehouse path through $HOMEWATCH_DB, as profiles.yml reads it.
A job that runs several dbt commands opens a `dbt_session`: one child for all of them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
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


def dbt_target_path(db_path: Path) -> Path:
    """dbt's artifacts for one warehouse, next to it (`<file>.dbt/`). The parsed project cached
    there is only reused while the profile, the warehouse path included, stays the same: with
    one folder shared by every warehouse, each switch between two of them would cost a full
    parse of the project (about 6 s on 2 cores) at the start of every build."""
    return Path(f"{db_path}.dbt")


def _command_args(args: Sequence[str], path: Path, dbt_vars: dict | None, target: str | None = None) -> list[str]:
    out = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if target:
        out += ["--target", target]
    if "--target-path" not in args:   # the Spark target's artifacts stay apart (another profile)
        out += ["--target-path", str(Path(f"{path}.spark") / "dbt" if target == "spark" else dbt_target_path(path))]
    if dbt_vars:
        out += ["--vars", json.dumps(dbt_vars)]
    return out


def _dbt_env(path: Path) -> dict:
    return {**os.environ, "HOMEWATCH_DB": str(path), "HOMEWATCH_SPARK_DIR": f"{path}.spark",  # warehouse/spark_land.py
            "DO_NOT_TRACK": "1", "DBT_USE_COLORS": "false"}


class _Worker:
    """A warehouse/dbt_worker.py child: dbt imported once for a sequence of commands."""

    def __init__(self, path: Path) -> None:
        from warehouse.dbt_worker import DONE

        self.done = DONE
        # pass_fds: the worker inherits the run lock (warehouse/lock.py), as a dbt child does
        self.proc = subprocess.Popen([sys.executable, "-m", "warehouse.dbt_worker"], cwd=DBT_PROJECT_DIR,
                                     env=_dbt_env(path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1, pass_fds=held_fds())

    def run(self, command: list[str], on_line: Callable[[str], None]) -> int:
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker is gone: its exit status is read below
        try:
            for line in self.proc.stdout:
                if line.startswith(self.done):
                    return int(line.split()[1])
                on_line(line.rstrip())
        except BaseException:
            # interrupted (SIGTERM, Ctrl-C): stop dbt now, so that the warehouse is free for the
            # job to record the failure; what dbt had not committed is rolled back
            self.proc.terminate()
            self.proc.wait()
            raise
        return self.proc.wait() or 2   # the worker died mid-command

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


_WORKERS: dict[Path, _Worker | None] = {}   # open sessions; a worker starts at the first command


@contextmanager
def dbt_session(db=None):
    """Run the block's dbt commands on this warehouse in one dbt process (see
    warehouse/dbt_worker.py): the second and later commands skip dbt's start-up."""
    path = require_warehouse(db)
    if path in _WORKERS:
        yield
        return
    _WORKERS[path] = None
    try:
        yield
    finally:
        worker = _WORKERS.pop(path)
        if worker is not None:
            worker.close()


def run_dbt(
    args: Sequence[str],
    *,
    db=None,
    dbt_vars: dict | None = None,
    progress: Callable[[str], None] | None = None,
    target: str | None = None,
) -> str:
    """Run `dbt <args>` on the warehouse (in the open dbt_session's worker, if any); return
    its output, raise TransformError on failure. target: a profiles.yml target (default dev,
    DuckDB; 'spark': the warehouse's Spark side, docs/scale-out.md)."""
    path = require_warehouse(db)
    command = _command_args(args, path, dbt_vars, target)
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if progress and _RESULT_LINE.search(line):
            progress(line.split("  ", 1)[-1].strip())

    if path in _WORKERS:
        worker = _WORKERS[path] = _WORKERS[path] or _Worker(path)
        returncode = worker.run(command, on_line)
    else:
        # pass_fds: dbt inherits the run lock (warehouse/lock.py), so a dbt left running by a
        # killed parent still holds it until it exits
        with subprocess.Popen([dbt_executable(), *command], cwd=DBT_PROJECT_DIR, env=_dbt_env(path),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              pass_fds=held_fds()) as proc:
            for line in proc.stdout:
                on_line(line.rstrip())
        returncode = proc.returncode
    output = "\n".join(lines)
    if returncode != 0 and ("Could not set lock" in output or "Conflicting lock" in output):
        raise WarehouseBusyError(
            f"dbt could not open warehouse {path}: another process holds it (a DuckDB shell or notebook, "
            "or another job). Close it, then run again; the build resumes where it stopped."
        )
    if returncode != 0:
        failures = _failure_lines(lines)
        hint = ""
        if "schemas on this incremental model are out of sync" in output:
            # dbt's on_schema_change=fail: the table was built by a HomeWatch whose model had other columns
            hint = ("\na table was built by an earlier HomeWatch with other columns (an upgrade added some): "
                    "run `homewatch build --full-refresh` once to rebuild the tables from the raw readings")
        raise TransformError(
            f"dbt {args[0]} failed (exit {returncode}) on {path}:\n  " + "\n  ".join(failures) + hint
            + f"\nfull log: {DBT_PROJECT_DIR / 'logs' / 'dbt.log'}"
        )
    return output


def _failure_lines(lines: list[str]) -> list[str]:
    """The lines of dbt's output that say what failed, with the reason a compilation or database
    error gives on the line after it (e.g. a grid step refused by macros/check_grid_step.sql)."""
    picked = []
    for i, line in enumerate(lines):
        if _FAILURE_LINE.search(line):
            picked.append(line.strip())
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if re.search(r"(Compilation|Runtime|Database) Error", line) and following \
                    and not following.startswith(">") and not re.match(r"\d\d:\d\d:\d\d", following):
                picked.append("  " + following)
    return picked[-12:]


def build(*, db=None, full_refresh: bool = False, select: str | None = None, exclude: str | None = None,
          dbt_vars: dict | None = None, unit_tests: bool = False, progress=None,
          step: int | str | None = None, target: str | None = None) -> str:
    """`dbt build`: models, seeds and data tests; incremental unless full_refresh.
    target='spark' builds the warehouse's Spark side instead (build_spark).

    The grid step is the warehouse's (warehouse/grid.py): the one recorded by its first build,
    which records `step` (seconds, or '10s', '5min', '1h'; or the var step_seconds /
    step_minutes in dbt_vars) or, given none, the default. A step other than the recorded one
    raises GridStepError unless full_refresh, which rebuilds every table on it and records it.

    Unit tests check the SQL's logic on hand-written rows, not the data: they run in the
    test suite and CI (unit_tests=True, or `dbt build` by hand), not on every production build.
    """
    from warehouse.connection import writer
    from warehouse.grid import parse_step, plan_build, record_built, record_start

    dbt_vars = dict(dbt_vars or {})
    requested = _requested_step(step, dbt_vars, parse_step)
    if target == "spark":
        return build_spark(db=db, full_refresh=full_refresh, select=select, exclude=exclude, dbt_vars=dbt_vars,
                           unit_tests=unit_tests, progress=progress, step=requested)
    with writer(db) as con:  # opening a writer applies pending migrations (dbt reads ml.*, dq.*)
        grid_step, full_refresh, note = plan_build(con, requested, full_refresh, select)
        record_start(con, grid_step, full_refresh, select)
    if note and progress:
        progress(note)
    dbt_vars["step_seconds"] = grid_step
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        # a test runs when every model it reads was selected or is built before one that was
        # (a seed, an upstream table): a test that compares a selected model with a downstream
        # one left out (a row count against its parent's) would judge a stale table
        args += ["--select", select, "--indirect-selection", "buildable"]
    if exclude:
        args += ["--exclude", exclude]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    output = run_dbt(args, db=db, dbt_vars=dbt_vars, progress=progress)
    with writer(db) as con:
        record_built(con, grid_step)
    return output


def build_spark(*, db=None, full_refresh: bool = False, select: str | None = None, exclude: str | None = None,
                dbt_vars: dict | None = None, unit_tests: bool = False, progress=None, step: int | None = None) -> str:
    """`dbt build --target spark` (docs/scale-out.md): land what is new in raw.* as Parquet
    (warehouse/spark_land.py), register it as Spark sources, build. One dbt process (one Spark
    session) for both commands. The grid step: `step`, else the DuckDB side's recorded one, else
    the project's default. The DuckDB warehouse is only read."""
    from warehouse.connection import reader
    from warehouse.grid import recorded_step
    from warehouse.spark_land import land_for_spark
    from warehouse.spark_query import require_spark

    require_spark()
    land_for_spark(db, progress=progress)
    dbt_vars = dict(dbt_vars or {})
    if step is None:
        with reader(db) as con:
            recorded = recorded_step(con)
        step = recorded[0] if recorded else None
    if step is not None:
        dbt_vars["step_seconds"] = step
    args = ["build", *(["--full-refresh"] if full_refresh else []), *(["--select", select, "--indirect-selection", "buildable"] if select else []),
            *(["--exclude", exclude] if exclude else []),
            *([] if unit_tests else ["--exclude-resource-type", "unit_test"])]
    with dbt_session(db):
        run_dbt(["run-operation", "spark_register_sources"], db=db, target="spark", progress=progress)
        return run_dbt(args, db=db, dbt_vars=dbt_vars, progress=progress, target="spark")


def _requested_step(step, dbt_vars: dict, parse_step) -> int | None:
    """The step a caller asked for (the argument, else step_seconds / step_minutes in the dbt
    vars, which are taken out: the build passes the one it settles on as step_seconds)."""
    seconds = dbt_vars.pop("step_seconds", None)
    minutes = dbt_vars.pop("step_minutes", None)
    if step is not None:
        return parse_step(step)
    if minutes is not None:
        return parse_step(f"{minutes}min")
    if seconds is not None:
        return parse_step(f"{seconds}s")
    return None


def unit_test(*, db=None, progress=None) -> str:
    """Run the dbt unit tests (hand-written rows; they read nothing from the warehouse)."""
    return run_dbt(["test", "--select", "test_type:unit"], db=db, progress=progress)
