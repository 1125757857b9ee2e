"""Load one checked file into the raw schema, inside the caller's transaction.

The file is staged as temp table hw_stage(c0..cN); readings that parse are inserted into
raw.readings in one statement, and only when some row did not make a reading does a
second pass collect the bad rows (and, for wide files, bad cells) with their reasons in
temp table hw_bad. _quarantine then moves those, with file line numbers, to raw.quarantine.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

from warehouse.connection import utcnow
from warehouse.ingest.plan import _Plan
from warehouse.ingest.sql import (
    _blank, _lit, _number, _read_csv, _record, _sensor_sql, _text, _ts_problem, _value_problem,
)

# Per-file temp tables; each file's load drops them all when it is done.
TEMP_TABLES = ("hw_stage", "hw_household_map", "hw_sensor_map", "hw_bad", "hw_rejects", "hw_reject_scans",
               "hw_lines", "hw_skips")


@dataclasses.dataclass(frozen=True)
class IngestResult:
    """What ingest_files did with one file."""

    path: str  # absolute path of the file
    batch_id: str | None  # None when skipped
    rows_loaded: int  # readings inserted
    rows_quarantined: int  # rows (long) or rows and cells (wide) sent to raw.quarantine
    households: tuple[str, ...]
    sensors: tuple[str, ...]
    skipped: bool  # True: identical content was already ingested; nothing added
    layout: str  # 'long' or 'wide'


def _already_ingested(con, content_hash: str) -> str | None:
    """The batch that already holds a file with these bytes, if any."""
    row = con.execute("select batch_id from raw.batches where content_hash = ?", [content_hash]).fetchone()
    return row[0] if row else None


def _register_column_map(con, column_map: dict[str, str]) -> None:
    """Temp table hw_column_map(src, dst): the user's renames, src lower-cased."""
    con.execute("create or replace temp table hw_column_map (src varchar, dst varchar)")
    if column_map:
        con.executemany("insert into hw_column_map values (?, ?)", list(column_map.items()))


def _stage(con, plan: _Plan) -> None:
    """Copy the file into temp table hw_stage(c0..cN); _rn gives each row's place in the file."""
    if plan.fmt == "csv":
        # rowid follows file order (insertion order is preserved). Lines DuckDB skipped are
        # accounted for when line numbers are needed, see _line_numbers.
        con.execute(f"create temp table hw_stage as select * from {_read_csv(plan)}")
        # Inside a transaction a new table's rowids start at a large base, contiguously.
        plan.row_base = con.execute("select coalesce(min(rowid), 0) from hw_stage").fetchone()[0]
        return
    cols = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}" as c{i}' for i, n in enumerate(plan.names))
    con.execute(f"create temp table hw_stage as select file_row_number as rn, {cols} "
                f"from read_parquet({_lit(str(plan.path))}, file_row_number=true)")


def _rn(plan: _Plan) -> str:
    """0-based position of a staged row among the rows DuckDB kept."""
    return f"(hw_stage.rowid - {plan.row_base})" if plan.fmt == "csv" else "hw_stage.rn"


def _households(con, plan: _Plan, default: str) -> tuple[str, str]:
    """(select expression, join clause) giving each staged row its household_id."""
    if plan.household is None:
        return _lit(default), ""
    text = _text(plan, plan.household)
    # A small map of the distinct cells is cheaper than trimming every row.
    con.execute(
        f"create temp table hw_household_map as select raw, coalesce(nullif(trim(raw), ''), ?) as household_id "
        f"from (select distinct {text} as raw from hw_stage)", [default])
    return "h.household_id", f"join hw_household_map h on h.raw is not distinct from {text}"


def _load_long(con, plan: _Plan, ts: str, household: str, household_join: str, params: dict) -> None:
    """Insert one reading per good row; the rest go to temp table hw_bad (see _long_problems)."""
    sensor_text = _text(plan, plan.sensor)
    con.execute(f"""
        create temp table hw_sensor_map as
        with d as (select distinct {sensor_text} as raw from hw_stage where {sensor_text} is not null)
        select d.raw, {_sensor_sql('coalesce(m.dst, d.raw)')} as sensor
        from d left join hw_column_map m on m.src = lower(trim(d.raw))""")
    value = _number(plan, f"c{plan.value}", plan.types[plan.value])
    loaded = con.execute(f"""
        insert into raw.readings
        select household_id, sensor, reading_at, value, $batch, $now from (
            select {household} as household_id, m.sensor, {ts} as reading_at, {value} as value
            from hw_stage join hw_sensor_map m on m.raw = {sensor_text} {household_join})
        where isfinite(reading_at) and isfinite(value) and sensor <> ''""", params).fetchone()[0]
    if loaded == con.execute("select count(*) from hw_stage").fetchone()[0]:
        con.execute("create temp table hw_bad (rn bigint, household_id varchar, reason varchar)")
        return  # every row made one reading: nothing to quarantine, skip the second pass
    _long_problems(con, plan, ts, household, household_join, value)


def _long_problems(con, plan: _Plan, ts: str, household: str, household_join: str, value: str) -> None:
    """Temp table hw_bad: each staged row that made no reading, with every reason why."""
    sensor_text = _text(plan, plan.sensor)
    reasons = ", ".join([
        _ts_problem("ts_text", "reading_at"),
        f"case when {_blank('sensor_text')} then 'missing sensor name' when sensor = '' then "
        "format('sensor name ''{}'' has no letters or digits', sensor_text) end",
        _value_problem("value_text", "value", "coalesce(nullif(sensor, ''), sensor_text)"),
    ])
    con.execute(f"""
        create temp table hw_bad as
        select rn, household_id, concat_ws('; ', {reasons}) as reason from (
            select {_rn(plan)} as rn, {household} as household_id, m.sensor, {ts} as reading_at,
                   {value} as value, {_text(plan, plan.ts)} as ts_text,
                   {sensor_text} as sensor_text, {_text(plan, plan.value)} as value_text
            from hw_stage left join hw_sensor_map m on m.raw = {sensor_text} {household_join})
        where not coalesce(isfinite(reading_at) and isfinite(value) and sensor <> '', false)""")


def _load_wide(con, plan: _Plan, ts: str, household: str, household_join: str, params: dict) -> None:
    """Insert one reading per good cell; bad rows and cells go to temp table hw_bad."""
    cols = [f"c{i}" for i in plan.sensor_cols]
    _wide_sensor_map(con, plan)
    base = f"select {_rn(plan)} as rn, {ts} as reading_at, {household} as household_id"
    numbers = ", ".join(f"{_number(plan, c, plan.types[int(c[1:])])} as {c}" for c in cols)
    # UNPIVOT leaves out NULLs: empty cells (and cells that do not parse) make no reading.
    con.execute(f"""
        insert into raw.readings
        select u.household_id, m.sensor, u.reading_at, u.value, $batch, $now
        from (unpivot ({base}, {numbers} from hw_stage {household_join})
              on {', '.join(cols)} into name col value value) u
        join hw_sensor_map m using (col)
        where isfinite(u.reading_at) and isfinite(u.value)""", params)
    _wide_problems(con, plan, cols, base, household_join)


def _wide_sensor_map(con, plan: _Plan) -> None:
    """Temp table hw_sensor_map(col, sensor): the stored sensor name of each staged column."""
    con.execute("create temp table hw_sensor_map (col varchar, name varchar, fallback varchar)")
    con.executemany("insert into hw_sensor_map values (?, ?, ?)",
                    [[f"c{i}", plan.names[i], f"column_{i + 1}"] for i in plan.sensor_cols])
    # A header with no letters or digits (say '%') still names a sensor: column_<n>.
    con.execute(f"""
        create or replace temp table hw_sensor_map as
        select s.col, coalesce(nullif({_sensor_sql('coalesce(m.dst, s.name)')}, ''), s.fallback) as sensor
        from hw_sensor_map s left join hw_column_map m on m.src = lower(trim(s.name))""")


def _wide_problems(con, plan: _Plan, cols: list[str], base: str, household_join: str) -> None:
    """Temp table hw_bad: rows with a bad timestamp or no values, and each bad cell, with the reason."""
    texts = ", ".join(f"{_text(plan, int(c[1:]))} as {c}" for c in cols)
    rows = f"{base}, {_text(plan, plan.ts)} as ts_text, {texts} from hw_stage {household_join}"
    number = _number(plan, "u.text")
    con.execute(f"""
        create temp table hw_bad as
        with r as ({rows})
        select rn, household_id, {_ts_problem('ts_text', 'reading_at')} as reason
        from r where not coalesce(isfinite(reading_at), false)
        union all
        select rn, household_id, 'no sensor values in the row (every sensor cell is empty)'
        from r where isfinite(reading_at) and {' and '.join(_blank(c) for c in cols)}
        union all
        select u.rn, u.household_id, {_value_problem('u.text', number, 'm.sensor')}
        from (unpivot r on {', '.join(cols)} into name col value text) u join hw_sensor_map m using (col)
        where isfinite(u.reading_at) and trim(u.text) <> '' and not coalesce(isfinite({number}), false)""")


def _quarantine(con, plan: _Plan, params: dict) -> int:
    """Move hw_bad (and CSV lines DuckDB rejected) into raw.quarantine; returns the count."""
    line = "b.rn + 1"
    if plan.fmt == "csv":
        line = _line_numbers(con, plan)
    source = str(plan.path)
    con.execute(
        f"""insert into raw.quarantine
        select $batch, $source, {line}, b.household_id, {_record(plan)}, b.reason, $now
        from hw_bad b join hw_stage on {_rn(plan)} = b.rn
        {'asof left join hw_skips s on b.rn >= s.t' if plan.fmt == 'csv' else ''}
        order by 3""",
        {"batch": params["batch"], "source": source, "now": params["now"]},
    )
    bad = con.execute("select count(*) from hw_bad").fetchone()[0]
    if plan.fmt == "csv":
        # DuckDB keeps one reject row per problem cell; one quarantine row per line is enough.
        rejected = con.execute(
            f"""insert into raw.quarantine
            select $batch, $source, line, null, first(csv_line order by column_idx),
                   'malformed CSV line: ' || lower(first(error_message order by column_idx)), $now
            from hw_rejects group by line order by line""",
            {"batch": params["batch"], "source": source, "now": params["now"]},
        ).fetchone()[0]
        bad += rejected
    return bad


def _line_numbers(con, plan: _Plan) -> str:
    """SQL for the file line of a staged CSV row, using temp table hw_skips.

    A staged row's rowid counts only the rows DuckDB kept. Lines it did not keep are the
    rejected ones (in hw_rejects, with their line) and blank lines (skipped silently). Each
    skipped line shifts every later row by one; hw_skips(t, skipped) says that rows from
    rowid t on have `skipped` lines before them.
    """
    skipped = "select distinct line from hw_rejects"
    kept, rejected = con.execute(
        "select (select count(*) from hw_stage), (select count(distinct line) from hw_rejects)").fetchone()
    has_bad = con.execute("select count(*) from hw_bad").fetchone()[0] > 0
    if has_bad and (plan.lines is None or kept + rejected != plan.lines - 1):
        # Some lines were skipped without a trace (blank lines): find them by reading the
        # file as one text column, where every physical line is one row, in order.
        con.execute(f"""create temp table hw_lines as select l from read_csv({_lit(str(plan.path))},
            columns={{'l': 'VARCHAR'}}, header=false, delim='\x01', quote='', escape='',
            auto_detect=false, strict_mode=false, encoding={_lit(plan.encoding)})""")
        skipped += (" union select rowid - (select min(rowid) from hw_lines) + 1 as line"
                    " from hw_lines where l is null")
    con.execute(f"""
        create temp table hw_skips as
        select line - 1 - n as t, max(n) as skipped
        from (select line, row_number() over (order by line) as n from ({skipped}) where line > 1)
        group by 1""")
    return "b.rn + 2 + coalesce(s.skipped, 0)"


def _record_batch(con, plan: _Plan, started: dt.datetime, quarantined: int, default_household: str,
                  fmt: str | None) -> IngestResult:
    """Record the loaded file in raw.batches and its new households in raw.households; its result."""
    loaded, first, last, households, sensors = con.execute(
        "select count(*), min(reading_at), max(reading_at), list(distinct household_id order by household_id), "
        "list(distinct sensor order by sensor) from raw.readings where batch_id = ?", [plan.batch_id]
    ).fetchone()
    households, sensors = households or [], sensors or []
    con.execute(  # households already known (simulated ones too) are left as they are
        "insert or ignore into raw.households "
        "select household_id, 'file', 'UTC', null, ?, ? from unnest(?::varchar[]) t(household_id)",
        [plan.batch_id, started, households],
    )
    details = {"format": plan.fmt, "layout": plan.layout, "sensors": sensors, "delimiter": plan.delimiter,
               "timestamp_column": plan.names[plan.ts], "timestamp_format": fmt,
               "household_column": None if plan.household is None else plan.names[plan.household],
               "default_household": default_household if plan.household is None else None}
    con.execute(
        "insert into raw.batches values (?, 'file', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'loaded', ?)",
        [plan.batch_id, str(plan.path), plan.content_hash, loaded, quarantined, len(households), first, last,
         started, utcnow(), json.dumps(details)],
    )
    return IngestResult(str(plan.path), plan.batch_id, loaded, quarantined, tuple(households), tuple(sensors),
                        False, plan.layout)


def _drop_temp_tables(con) -> None:
    """Drop every per-file temp table, so the next file in the transaction starts clean."""
    for table in TEMP_TABLES:
        con.execute(f"drop table if exists {table}")
