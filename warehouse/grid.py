"""The grid step: a property of the warehouse, recorded by its first build.

Every dbt table holds rows on one grid (one row per household, sensor and step), and the
rolling windows are compiled as a number of steps, so two steps in one warehouse would mix two
grids. The first `homewatch build` records the step in ops.grid; every later build (and
`homewatch batch`) builds on the recorded step, and a different step is refused unless the
build is a full refresh, which rebuilds every table on it and records it.

The step is one per warehouse, not per household: the windows are compiled once for all
households (a per-household step would need per-household window lengths in every model).

    from warehouse import grid_step
    with reader(db) as con:
        seconds = grid_step(con)       # e.g. 300; None before the first build
"""
from __future__ import annotations

import re

import duckdb

from warehouse.connection import WarehouseError, has_table, utcnow

DEFAULT_STEP_SECONDS = 300  # dbt_project.yml var step_seconds: the step of a first build given none
MAX_STEP_SECONDS = 3600
_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
          "min": 60, "mins": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600}
_STEP = re.compile(r"^\s*([+-]?\d+(?:\.\d*)?)\s*([a-z]+)\s*$")


class GridStepError(WarehouseError):
    """A step that cannot be used: invalid, or not the warehouse's without a full refresh."""


def parse_step(text: str | int) -> int:
    """'10s', '5min', '1h' (or '30 seconds') -> seconds. A step is a whole number of seconds
    from 1 s to 1 h that divides an hour, so every step lies inside one clock hour (the
    hour-of-day baselines) and steps line up on midnight. Anything else raises GridStepError."""
    if isinstance(text, int) and not isinstance(text, bool):
        return check_step(text)
    return check_step(parse_duration(text), text)


def parse_duration(text: str) -> int:
    """'10s', '5min', '1h' -> whole seconds (any sign); GridStepError for anything else."""
    match = _STEP.match(str(text).lower())
    if not match:
        if re.fullmatch(r"\s*[+-]?\d+(\.\d*)?\s*", str(text)):
            if float(text) <= 0:
                raise GridStepError(f"grid step {text!r} must be longer than zero (e.g. 10s, 5min, 1h)")
            raise GridStepError(f"grid step {text!r} has no unit: say 10s, 5min or 1h")
        raise GridStepError(f"grid step {text!r} is not a duration like 10s, 5min or 1h")
    number, unit = match.groups()
    if unit not in _UNITS:
        raise GridStepError(f"grid step {text!r}: unknown unit {unit!r}; use s, min or h (10s, 5min, 1h)")
    seconds = float(number) * _UNITS[unit]
    if seconds != int(seconds):
        raise GridStepError(f"grid step {text!r} is not a whole number of seconds")
    return int(seconds)


def check_step(seconds: int, text: object = None) -> int:
    """`seconds` if it is a usable step, else GridStepError saying why."""
    shown = repr(text) if text is not None else f"{seconds} s"
    if seconds <= 0:
        raise GridStepError(f"grid step {shown} must be longer than zero (e.g. 10s, 5min, 1h)")
    if seconds > MAX_STEP_SECONDS:
        raise GridStepError(f"grid step {shown} is longer than an hour; the longest step is 1h")
    if MAX_STEP_SECONDS % seconds:
        raise GridStepError(f"grid step {shown} does not divide an hour: use e.g. 1s, 10s, 30s, 1min, 5min, "
                            "15min or 1h, so that steps line up on the hour")
    return seconds


def describe_step(seconds: int) -> str:
    """300 -> '5 min', 10 -> '10 s', 3600 -> '1 h': how the CLI names a step."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def recorded_step(con: duckdb.DuckDBPyConnection) -> tuple[int, str] | None:
    """(step_seconds, status) from ops.grid, or None if no build recorded one."""
    if not has_table(con, "ops", "grid"):
        return None
    row = con.execute("select step_seconds, status from ops.grid").fetchone()
    return (int(row[0]), row[1]) if row else None


def grid_step(con: duckdb.DuckDBPyConnection) -> int | None:
    """The grid step of this warehouse's dbt tables, in seconds: the one its builds recorded
    (ops.grid), else, for a warehouse built before steps were recorded, the step its grid shows;
    None before the first build."""
    recorded = recorded_step(con)
    if recorded is not None:
        return recorded[0]
    return _step_of_grid(con)


def _step_of_grid(con) -> int | None:
    """The smallest gap between two steps of one household in int_readings_gridded (first
    household, first sensor, first steps: a bounded read)."""
    if not has_table(con, "intermediate", "int_readings_gridded"):
        return None
    gap = con.execute("""
        with first_series as (
            select step_at from intermediate.int_readings_gridded
            where (household_id, sensor) = (select (household_id, sensor) from intermediate.int_readings_gridded
                                            order by household_id, sensor limit 1)
            order by step_at limit 1000
        )
        select min(epoch(step_at) - epoch(prev)) from (
            select step_at, lag(step_at) over (order by step_at) as prev from first_series)
        where step_at > prev
    """).fetchone()[0]
    return None if gap is None else int(gap)


def _simulated_step(con) -> int | None:
    """The step of a simulation landed here, if it is a usable grid step: a first build of
    `homewatch simulate --step 10min` data is on 10-minute steps without saying so again."""
    if not has_table(con, "raw", "simulations"):
        return None
    step = con.execute("select min(step_seconds) from raw.simulations").fetchone()[0]
    return int(step) if step and step <= MAX_STEP_SECONDS and MAX_STEP_SECONDS % int(step) == 0 else None


def plan_build(con, requested: int | None, full_refresh: bool, select: str | None) -> tuple[int, bool, str | None]:
    """The step a build runs on, whether it must be a full refresh, and a note for the user.

    No step asked for: the recorded one (on a first build: a landed simulation's, else the
    default). A step other than the
    recorded one: only with full_refresh (and no --select: every table moves to the new grid).
    A rebuild onto a new step that did not finish is redone as a full refresh."""
    recorded = recorded_step(con)
    current = recorded[0] if recorded else _step_of_grid(con)
    step = requested if requested is not None else (current or _simulated_step(con) or DEFAULT_STEP_SECONDS)
    note = None
    if current is not None and step != current:
        if not full_refresh:
            raise GridStepError(
                f"this warehouse is built on {describe_step(current)} steps; building it on "
                f"{describe_step(step)} steps rebuilds every table: add --full-refresh "
                f"(or drop the step to keep {describe_step(current)})")
        if select:
            raise GridStepError(f"a new grid step ({describe_step(step)}) rebuilds every table: drop --select")
        note = f"grid step {describe_step(current)} -> {describe_step(step)}: rebuilding every table"
    elif recorded is not None and recorded[1] == "rebuilding" and not full_refresh:
        if select:
            raise GridStepError(f"the last rebuild on {describe_step(step)} steps did not finish: run "
                                "`homewatch build --full-refresh` (without --select) first")
        full_refresh = True
        note = (f"the last rebuild on {describe_step(step)} steps did not finish: rebuilding every table "
                "(--full-refresh)")
    return step, full_refresh, note


def record_start(con, step: int, full_refresh: bool, select: str | None) -> None:
    """Before dbt runs: record the step (status 'rebuilding' while a full refresh onto a new step
    runs, so a killed one is redone; 'building' on a first build, which resumes as usual)."""
    recorded = recorded_step(con)
    if recorded is not None and recorded[0] == step:
        return
    current = recorded[0] if recorded is not None else _step_of_grid(con)
    status = "building" if current in (None, step) else "rebuilding"
    con.execute("delete from ops.grid")
    con.execute("insert into ops.grid (step_seconds, status, recorded_at) values (?, ?, ?)",
                [step, status, utcnow()])


def record_built(con, step: int) -> None:
    """After a build that finished: the step is the warehouse's."""
    con.execute("update ops.grid set status = 'built', built_at = ? where step_seconds = ?", [utcnow(), step])
