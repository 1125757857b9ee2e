"""SQL expression builders for the load: reading a staged CSV, parsing cells, naming problems.

Each function returns DuckDB SQL text over the staged columns c0..cN of temp table hw_stage
(see load.py); none writes anything. Parsers give NULL for a cell that does not parse, so
the load can keep the good readings and send the rest to quarantine with a reason.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol


class _Plan(Protocol):
    """What these builders read of a file's plan; plan.py's `_Plan` has it. A protocol, so this
    module needs no import of plan.py, which imports it (no cycle, not even a type-only one)."""

    path: Path
    fmt: str
    names: list[str]
    types: list[str]
    delimiter: str | None
    encoding: str
    ts: int


NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
                 "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")  # strict: none accepts an offset
TEMPORAL_TYPES = ("TIMESTAMP", "DATE")  # prefixes of DuckDB type names
EXACT_NUMERIC_TYPES = ("DOUBLE", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                       "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "DECIMAL")


def _lit(text: str) -> str:
    """text as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _read_csv(plan: _Plan, rejects: bool = True) -> str:
    """A read_csv(...) call giving every column as VARCHAR c0..cN.

    With rejects, malformed lines are kept out and recorded in temp table hw_rejects;
    without, they are skipped (enough to check that DuckDB can open the file).
    """
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(plan.names)))
    options = [f"columns={{{columns}}}", "header=true", f"delim={_lit(plan.delimiter)}", "quote='\"'",
               "escape='\"'", "auto_detect=false", "null_padding=false", f"encoding={_lit(plan.encoding)}"]
    if rejects:
        options += ["store_rejects=true", "rejects_table='hw_rejects'", "rejects_scan='hw_reject_scans'"]
    else:
        options += ["ignore_errors=true"]
    return f"read_csv({_lit(str(plan.path))}, {', '.join(options)})"


def _text(plan: _Plan, i: int) -> str:
    """Staged column i as text."""
    return f"c{i}" if plan.types[i] == "VARCHAR" else f"cast(c{i} as varchar)"


def _timestamp(con, plan: _Plan, fmt: str | None) -> str:
    """SQL for the reading time as a naive UTC TIMESTAMP, NULL when the cell does not parse."""
    if plan.types[plan.ts].startswith(TEMPORAL_TYPES):
        # TIMESTAMPTZ converts in the session zone (UTC); naive types are taken as UTC.
        return f"cast(c{plan.ts} as timestamp)"
    text = _text(plan, plan.ts)
    if fmt:
        return f"cast(cast(try_strptime({text}, {_lit(fmt)}) as timestamptz) as timestamp)"
    # The session is in UTC: offsets and zone names are converted, naive times taken as UTC.
    # That cast costs about five strict strptime calls, so when a sample of the column fits
    # one zone-less format, try that first (coalesce only evaluates the rest on misses).
    tz = f"cast(try_cast({text} as timestamptz) as timestamp)"
    checks = ", ".join(f"count(try_strptime(x, {_lit(f)})) = count(*)" for f in NAIVE_FORMATS)
    fits = con.execute(
        f"select {checks} from (select {text} as x from hw_stage where {text} is not null limit 2000)"
    ).fetchone()
    for candidate, fit in zip(NAIVE_FORMATS, fits):
        if fit:
            return f"coalesce(try_strptime({text}, {_lit(candidate)}), {tz})"
    return tz


def _number(plan: _Plan, expr: str, type_: str = "VARCHAR") -> str:
    """A DOUBLE, NULL when the cell does not parse."""
    if type_.startswith(EXACT_NUMERIC_TYPES):
        return f"cast({expr} as double)"
    if type_ != "VARCHAR":
        expr = f"cast({expr} as varchar)"  # FLOAT via text, so 0.1 stays 0.1 as in a CSV
    if plan.fmt == "csv" and plan.delimiter != ",":
        expr = f"replace({expr}, ',', '.')"  # decimal comma: '21,5' is 21.5
    return f"try_cast({expr} as double)"


def _blank(expr: str) -> str:
    """True when the text is NULL, empty or only whitespace."""
    return f"({expr} is null or trim({expr}) = '')"


def _sensor_sql(expr: str) -> str:
    """normalise_name in SQL: the sensor name as it is stored."""
    return f"trim(regexp_replace(lower({expr}), '[^a-z0-9]+', '_', 'g'), '_')"


def _record(plan: _Plan) -> str:
    """The original row as text: cells joined by the delimiter (CSV) or a JSON object (Parquet)."""
    if plan.fmt == "parquet":
        pairs = ", ".join(f"{_lit(n)}, c{i}" for i, n in enumerate(plan.names))
        return f"cast(json_object({pairs}) as varchar)"
    d = plan.delimiter
    cells = [
        f"case when contains(coalesce(c{i}, ''), {_lit(d)}) or contains(coalesce(c{i}, ''), '\"') "
        f"then '\"' || replace(c{i}, '\"', '\"\"') || '\"' else coalesce(c{i}, '') end"
        for i in range(len(plan.names))
    ]
    return f"concat_ws({_lit(d)}, {', '.join(cells)})"


def _ts_problem(text: str, ts_expr: str) -> str:
    """Why a timestamp cell gave no reading time, or NULL when it did."""
    return (f"case when {_blank(text)} then 'missing timestamp' "
            f"when {ts_expr} is null then format('timestamp ''{{}}'' is not a date/time', {text}) "
            f"when not isfinite({ts_expr}) then format('timestamp ''{{}}'' is not a finite date/time', {text}) end")


def _value_problem(text: str, number: str, sensor: str) -> str:
    """Why a value cell gave no reading, naming the sensor when known; NULL when it did."""
    which = f"format('value ''{{}}''', {text}) || coalesce(format(' for sensor ''{{}}''', {sensor}), '')"
    return (f"case when {_blank(text)} then 'missing value' "
            f"when {number} is null then {which} || ' is not a number' "
            f"when not isfinite({number}) then {which} || ' is not finite' end")
