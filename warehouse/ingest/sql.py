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
    if plan.compression:
        options.append(f"compression={_lit(plan.compression)}")
    if rejects:
        options += ["store_rejects=true", "rejects_table='hw_rejects'", "rejects_scan='hw_reject_scans'"]
    else:
        options += ["ignore_errors=true"]
    return f"read_csv({_lit(str(plan.path))}, {', '.join(options)})"


def _text(plan: _Plan, i: int) -> str:
    """Staged column i as text."""
    return f"c{i}" if plan.types[i] == "VARCHAR" else f"cast(c{i} as varchar)"


EPOCH_RANGES = {"epoch_s": (6.3e8, 4.1e9), "epoch_ms": (6.3e11, 4.1e12)}  # 1990-2100: auto-detected
EPOCH_SCALE = {"epoch_s": 1_000_000, "epoch_ms": 1_000}  # to microseconds
NUMBER_PATTERN = r"^\s*-?[0-9]+(\.[0-9]*)?\s*$"


def _timestamp(con, plan: _Plan, fmt: str | None) -> str:
    """SQL for the reading time as a naive UTC TIMESTAMP, NULL when the cell does not parse.

    fmt: a strptime format, 'epoch_s' / 'epoch_ms' (numbers since 1970, UTC), or None to
    detect: ISO text with or without an offset, or epoch numbers when every sampled value is
    a number in the range of one unit (1990-2100 in seconds or in milliseconds).
    """
    if plan.types[plan.ts].startswith(TEMPORAL_TYPES):
        # TIMESTAMPTZ converts in the session zone (UTC); naive types are taken as UTC.
        return f"cast(c{plan.ts} as timestamp)"
    numeric = plan.types[plan.ts].startswith(EXACT_NUMERIC_TYPES + ("FLOAT",))
    text = _text(plan, plan.ts)
    number = f"cast(c{plan.ts} as double)" if numeric else f"try_cast({text} as double)"
    if fmt in EPOCH_SCALE:
        return _epoch(number, fmt)
    if fmt:
        return f"cast(cast(try_strptime({text}, {_lit(fmt)}) as timestamptz) as timestamp)"
    sample = f"(select {text} as x, {number} as n from hw_stage where {text} is not null limit 2000)"
    epoch = _epoch_unit(con, sample, numeric)
    if epoch:
        return _epoch(number, epoch)
    # The session is in UTC: offsets and zone names are converted, naive times taken as UTC.
    # That cast costs about five strict strptime calls, so when a sample of the column fits
    # one zone-less format, try that first (coalesce only evaluates the rest on misses).
    tz = f"cast(try_cast({text} as timestamptz) as timestamp)"
    checks = ", ".join(f"count(try_strptime(x, {_lit(f)})) = count(*)" for f in NAIVE_FORMATS)
    fits = con.execute(f"select {checks} from {sample}").fetchone()
    for candidate, fit in zip(NAIVE_FORMATS, fits):
        if fit:
            return f"coalesce(try_strptime({text}, {_lit(candidate)}), {tz})"
    return tz


def _epoch_unit(con, sample: str, numeric: bool) -> str | None:
    """'epoch_s' or 'epoch_ms' when every sampled value is a number in that unit's range, else None."""
    checks = ", ".join(f"count(*) filter (where n between {lo} and {hi}) = count(*)"
                       for lo, hi in EPOCH_RANGES.values())
    where = "" if numeric else f"where regexp_full_match(x, {_lit(NUMBER_PATTERN)})"
    row = con.execute(f"select count(*) = (select count(*) from {sample}) and count(*) > 0, {checks} "
                      f"from {sample} {where}").fetchone()
    if not row[0]:
        return None
    return next((unit for unit, fit in zip(EPOCH_RANGES, row[1:]) if fit), None)


def _epoch(number: str, unit: str) -> str:
    """An epoch number (seconds or milliseconds since 1970, UTC) as a timestamp; NULL out of range."""
    scale = EPOCH_SCALE[unit]
    return (f"case when abs({number}) < {9e12 / scale * 1e6:.0f} "
            f"then make_timestamp(cast(round({number} * {scale}) as bigint)) end")


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
    """normalise_name in SQL: the sensor name as it is stored (letters and digits of any script kept)."""
    return f"trim(regexp_replace(lower(nfc_normalize({expr})), '[^\\pL\\pN]+', '_', 'g'), '_')"


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


def _plausible(ts_expr: str) -> str:
    """True when the reading time is within the load's limits ($earliest to $latest, see Limits)."""
    return f"({ts_expr} between $earliest and $latest)"


def _ts_problem(text: str, ts_expr: str) -> str:
    """Why a timestamp cell gave no usable reading time, or NULL when it did."""
    return (f"case when {_blank(text)} then 'missing timestamp' "
            f"when {ts_expr} is null then format('timestamp ''{{}}'' is not a date/time', {text}) "
            f"when not isfinite({ts_expr}) then format('timestamp ''{{}}'' is not a finite date/time', {text}) "
            f"when {ts_expr} < $earliest then format('timestamp ''{{}}'' is before the earliest accepted time "
            f"{{}} (--earliest)', {text}, strftime($earliest, '%Y-%m-%d %H:%M:%S')) "
            f"when {ts_expr} > $latest then format('timestamp ''{{}}'' is more than {{}} hours after the ingest "
            f"time {{}} UTC (--future-tolerance-hours)', {text}, $future_hours, strftime($now, '%Y-%m-%d %H:%M:%S')) "
            "end")


def _value_problem(text: str, number: str, sensor: str) -> str:
    """Why a value cell gave no reading, naming the sensor when known; NULL when it did."""
    which = f"format('value ''{{}}''', {text}) || coalesce(format(' for sensor ''{{}}''', {sensor}), '')"
    return (f"case when {_blank(text)} then 'missing value' "
            f"when {number} is null then {which} || ' is not a number' "
            f"when not isfinite({number}) then {which} || ' is not finite' end")
