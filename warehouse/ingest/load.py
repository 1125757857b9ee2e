"""Load one checked file into the raw schema, inside the caller's transaction.

The file is staged as temp table hw_stage(c0..cN). Its good readings (times within the
load's limits) are gathered into temp table hw_keys, one row per household, sensor and
time: a repeat with the same value is dropped, one with another value (a conflicting
duplicate) keeps the first and quarantines the rest. Only when some row did not make a
reading does a second pass collect the bad rows (and, for wide files, bad cells) with their
reasons in temp table hw_bad. Readings already in raw.readings (same household, sensor,
time and value: an export that overlaps an earlier one) are then dropped from hw_keys by a
join bounded to the file's households and time span, and the rest inserted. _quarantine
moves the problems, with file line numbers, to raw.quarantine.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

from warehouse.connection import utcnow
from warehouse.ingest.model import _Plan
from warehouse.ingest.sql import (
    _blank, _lit, _number, _plausible, _read_csv, _record, _sensor_sql, _text, _ts_problem, _value_problem,
)

# Per-file temp tables; each file's load drops them all when it is done.
TEMP_TABLES = ("hw_stage", "hw_household_map", "hw_sensor_map", "hw_good", "hw_keys", "hw_bad", "hw_conflicts", "hw_existing",
               "hw_rejects", "hw_reject_scans", "hw_lines", "hw_skips")
CONFLICT_REASON = "conflicting duplicate"  # how quarantine reasons for them start (expectations count them)


def _run(con, sql: str, params: dict):
    """con.execute with the named parameters the SQL uses (DuckDB refuses unused ones)."""
    return con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})


@dataclasses.dataclass(frozen=True)
class IngestResult:
    """What ingest_files did with one file."""

    path: str  # absolute path of the file
    batch_id: str | None  # None when skipped, when nothing new was found, or when the load failed
    rows_loaded: int  # readings inserted
    rows_quarantined: int  # rows (long) or rows and cells (wide) sent to raw.quarantine
    households: tuple[str, ...]
    sensors: tuple[str, ...]
    skipped: bool  # True: identical content was already ingested with the same options; nothing added
    layout: str  # 'long' or 'wide'
    already_present: int = 0  # readings skipped: raw.readings already held them (same value)
    repeated: int = 0  # readings skipped: an earlier row of the file gave the same one
    conflicting: int = 0  # readings quarantined: an earlier row of the file gave another value
    replacing: int = 0  # readings loaded whose time an earlier load holds with another value
    failure: str | None = None  # why the load failed (nothing of the file was loaded), see _outcome
    attempt_id: str | None = None  # the batch id its quarantined rows carry, loaded or not
    missing: int = 0  # Home Assistant states `unavailable`, `unknown` or empty: no reading, not quarantined


def _already_ingested(con, content_hash: str, ingest_key: str) -> str | None:
    """The batch that already holds a file with these bytes loaded with the same options, if any.

    Batches recorded before the key existed match on their bytes alone."""
    row = con.execute("select batch_id from raw.batches where content_hash = ? and "
                      "coalesce(details->>'ingest_key', ?) = ?", [content_hash, ingest_key, ingest_key]).fetchone()
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


def _readings_long(con, plan: _Plan, ts: str, household: str, household_join: str, value: str) -> str:
    """SQL for the good readings of a long file (one per row), after building hw_sensor_map."""
    sensor_text = _text(plan, plan.sensor)
    con.execute(f"""
        create temp table hw_sensor_map as
        with d as (select distinct {sensor_text} as raw from hw_stage where {sensor_text} is not null)
        select d.raw, {_sensor_sql('coalesce(m.dst, d.raw)')} as sensor
        from d left join hw_column_map m on m.src = lower(trim(d.raw))""")
    return f"""
        select household_id, sensor, reading_at, value, rn from (
            select {household} as household_id, m.sensor, {ts} as reading_at, {value} as value, {_rn(plan)} as rn
            from hw_stage join hw_sensor_map m on m.raw = {sensor_text} {household_join})
        where isfinite(reading_at) and isfinite(value) and sensor <> '' and {_plausible('reading_at')}"""


def _long_problems(con, plan: _Plan, ts: str, household: str, household_join: str, value: str, limits: dict) -> None:
    """Temp table hw_bad: each staged row that made no reading, with every reason why."""
    sensor_text = _text(plan, plan.sensor)
    reasons = ", ".join([
        _ts_problem("ts_text", "reading_at"),
        f"case when {_blank('sensor_text')} then 'missing sensor name' when sensor = '' then "
        "format('sensor name ''{}'' has no letters or digits', sensor_text) end",
        _value_problem("value_text", "value", "coalesce(nullif(sensor, ''), sensor_text)"),
    ])
    _run(con, f"""
        create temp table hw_bad as
        select rn, household_id, concat_ws('; ', {reasons}) as reason from (
            select {_rn(plan)} as rn, {household} as household_id, m.sensor, {ts} as reading_at,
                   {value} as value, {_text(plan, plan.ts)} as ts_text,
                   {sensor_text} as sensor_text, {_text(plan, plan.value)} as value_text
            from hw_stage left join hw_sensor_map m on m.raw = {sensor_text} {household_join})
        where not coalesce(isfinite(reading_at) and isfinite(value) and sensor <> ''
                           and {_plausible('reading_at')}, false)""", limits)


def _readings_wide(con, plan: _Plan, ts: str, household: str, household_join: str) -> str:
    """SQL for the good readings of a wide file (one per non-empty cell), after hw_sensor_map."""
    cols = [f"c{i}" for i in plan.sensor_cols]
    con.execute("create temp table hw_sensor_map (col varchar, sensor varchar)")
    con.executemany("insert into hw_sensor_map values (?, ?)",
                    [[f"c{i}", name] for i, name in zip(plan.sensor_cols, plan.sensor_names)])
    base = f"select {_rn(plan)} as rn, {ts} as reading_at, {household} as household_id"
    numbers = ", ".join(f"{_number(plan, c, plan.types[int(c[1:])])} as {c}" for c in cols)
    # UNPIVOT leaves out NULLs: empty cells (and cells that do not parse) make no reading.
    return f"""
        select u.household_id, m.sensor, u.reading_at, u.value, u.rn
        from (unpivot ({base}, {numbers} from hw_stage {household_join})
              on {', '.join(cols)} into name col value value) u
        join hw_sensor_map m using (col)
        where isfinite(u.reading_at) and isfinite(u.value) and {_plausible('u.reading_at')}"""


def _wide_problems(con, plan: _Plan, ts: str, household: str, household_join: str, limits: dict) -> None:
    """Temp table hw_bad: rows with a bad timestamp or no values, and each bad cell, with the reason."""
    cols = [f"c{i}" for i in plan.sensor_cols]
    base = f"select {_rn(plan)} as rn, {ts} as reading_at, {household} as household_id"
    texts = ", ".join(f"{_text(plan, int(c[1:]))} as {c}" for c in cols)
    rows = f"{base}, {_text(plan, plan.ts)} as ts_text, {texts} from hw_stage {household_join}"
    number = _number(plan, "u.text")
    good_time = f"coalesce(isfinite(reading_at) and {_plausible('reading_at')}, false)"
    _run(con, f"""
        create temp table hw_bad as
        with r as ({rows})
        select rn, household_id, {_ts_problem('ts_text', 'reading_at')} as reason
        from r where not {good_time}
        union all
        select rn, household_id, 'no sensor values in the row (every sensor cell is empty)'
        from r where {good_time} and {' and '.join(_blank(c) for c in cols)}
        union all
        select u.rn, u.household_id, {_value_problem('u.text', number, 'm.sensor')}
        from (unpivot r on {', '.join(cols)} into name col value text) u join hw_sensor_map m using (col)
        where {good_time.replace('reading_at', 'u.reading_at')} and trim(u.text) <> ''
          and not coalesce(isfinite({number}), false)""", limits)


def _parse(con, plan: _Plan, ts: str, household: str, household_join: str, limits: dict) -> tuple[int, int, bool]:
    """Gather the file's good readings into hw_keys and its problems into hw_bad.

    limits: the parameters of sql._plausible and sql._ts_problem. Returns (good readings,
    repeats included; problems: hw_bad rows and the CSV lines DuckDB rejected; whether some
    household, sensor and time occurs twice, see _duplicates).
    """
    if plan.layout == "long":
        value = _number(plan, f"c{plan.value}", plan.types[plan.value])
        good = _readings_long(con, plan, ts, household, household_join, value)
    else:
        good = _readings_wide(con, plan, ts, household, household_join)
    readings = _run(con, f"create temp table hw_good as {good}", limits).fetchone()[0]
    # Most files hold no repeat: a group-by on a hash of the key tells cheaply (a collision
    # only sends the file down the exact path, which then finds nothing).
    repeats = con.execute("select count(*) from (select 1 from hw_good group by hash(household_id, sensor, "
                          "reading_at) having count(*) > 1)").fetchone()[0] > 0
    if not repeats:
        con.execute("alter table hw_good rename to hw_keys")
    if plan.layout == "long" and readings == con.execute("select count(*) from hw_stage").fetchone()[0]:
        con.execute("create temp table hw_bad (rn bigint, household_id varchar, reason varchar)")
    elif plan.layout == "long":
        _long_problems(con, plan, ts, household, household_join, value, limits)
    else:
        _wide_problems(con, plan, ts, household, household_join, limits)
    rejected = 0
    if plan.fmt == "csv":
        rejected = con.execute("select count(distinct line) from hw_rejects").fetchone()[0]
    problems = con.execute("select count(*) from hw_bad").fetchone()[0] + rejected
    con.execute("create temp table hw_conflicts (rn bigint, household_id varchar, reason varchar)")
    return readings, problems, repeats


def _duplicates(con, repeats: bool) -> tuple[int, int]:
    """Make hw_keys one row per household, sensor and time, keeping the first value in file
    order; quarantine the other values (conflicting duplicates) into hw_conflicts.

    Returns (repeated, conflicting): rows dropped as exact repeats, rows quarantined.
    """
    if not repeats:
        return 0, 0
    con.execute("""
        create temp table hw_keys as
        select household_id, sensor, reading_at, arg_min(value, rn) as value, count(*) as n,
               min(value) <> max(value) as conflicted
        from hw_good group by household_id, sensor, reading_at""")
    con.execute(f"""
        insert into hw_conflicts
        select g.rn, g.household_id,
               format('{CONFLICT_REASON}: sensor ''{{}}'' at {{}} has the value {{}} on an earlier row of '
                      'the file, which was kept; this row''s value {{}} was not loaded',
                      g.sensor, strftime(g.reading_at, '%Y-%m-%d %H:%M:%S'), k.value, g.value)
        from hw_good g
        join hw_keys k using (household_id, sensor, reading_at)
        where k.conflicted and g.value <> k.value""")
    readings, keys = con.execute("select count(*), (select count(*) from hw_keys) from hw_good").fetchone()
    conflicting = con.execute("select count(*) from hw_conflicts").fetchone()[0]
    con.execute("drop table hw_good")
    return readings - keys - conflicting, conflicting


def _drop_present(con) -> tuple[int, int]:
    """Drop from hw_keys the readings raw.readings already holds; (dropped, replacing).

    replacing: readings whose household, sensor and time an earlier load holds with another
    value; they load, and dbt staging uses the newest. Only raw.readings rows of the file's
    households and time span are read, and none at all when no batch's span overlaps it.
    """
    lo, hi = con.execute("select min(reading_at), max(reading_at) from hw_keys").fetchone()
    if lo is None or not con.execute(
            "select count(*) from raw.batches where min_reading_at <= ? and max_reading_at >= ?", [hi, lo]
    ).fetchone()[0]:
        return 0, 0
    con.execute("""
        create temp table hw_existing as
        select household_id, sensor, reading_at, value from raw.readings
        where reading_at between $lo and $hi and household_id in (select distinct household_id from hw_keys)""",
                {"lo": lo, "hi": hi})
    present = con.execute("""
        delete from hw_keys k using hw_existing e
        where k.household_id = e.household_id and k.sensor = e.sensor and k.reading_at = e.reading_at
          and k.value = e.value""").fetchone()[0]
    replacing = con.execute("""
        select count(*) from hw_keys k
        where exists (select 1 from hw_existing e where k.household_id = e.household_id and k.sensor = e.sensor
                      and k.reading_at = e.reading_at)""").fetchone()[0]
    return present, replacing


def _quarantine(con, plan: _Plan, params: dict) -> int:
    """Move hw_bad and hw_conflicts (and CSV lines DuckDB rejected) into raw.quarantine; the count.

    Rows an earlier failed attempt at the same file left there are replaced (see ingest_files).
    """
    source = str(plan.path)
    qparams = {"batch": params["batch"], "source": source, "now": params["now"]}
    con.execute("delete from raw.quarantine where source_file = $source and batch_id not in "
                "(select batch_id from raw.batches)", {"source": source})
    con.execute("insert into hw_bad select * from hw_conflicts")
    line = "b.rn + 1"
    if plan.fmt == "csv":
        line = _line_numbers(con, plan)
    con.execute(
        f"""insert into raw.quarantine
        select $batch, $source, {line}, b.household_id, {_record(plan)}, b.reason, $now
        from hw_bad b join hw_stage on {_rn(plan)} = b.rn
        {'asof left join hw_skips s on b.rn >= s.t' if plan.fmt == 'csv' else ''}
        order by 3""", qparams)
    bad = con.execute("select count(*) from hw_bad").fetchone()[0]
    if plan.fmt == "csv":
        # DuckDB keeps one reject row per problem cell; one quarantine row per line is enough.
        rejected = con.execute(
            """insert into raw.quarantine
            select $batch, $source, line, null, first(csv_line order by column_idx),
                   'malformed CSV line: ' || lower(first(error_message order by column_idx)), $now
            from hw_rejects group by line order by line""", qparams).fetchone()[0]
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


def _insert_readings(con, params: dict) -> tuple[int, dt.datetime | None, dt.datetime | None, list, list]:
    """Insert hw_keys into raw.readings; (count, first and last time, households, sensors)."""
    loaded = con.execute("insert into raw.readings select household_id, sensor, reading_at, value, $batch, $now "
                         "from hw_keys", {"batch": params["batch"], "now": params["now"]}).fetchone()[0]
    first, last, households, sensors = con.execute(
        "select min(reading_at), max(reading_at), list(distinct household_id order by household_id), "
        "list(distinct sensor order by sensor) from hw_keys").fetchone()
    return loaded, first, last, households or [], sensors or []


def _record_batch(con, plan: _Plan, started: dt.datetime, inserted: tuple, result: dict,
                  default_household: str, fmt: str | None) -> IngestResult:
    """Record the loaded file in raw.batches and its new households in raw.households; its result."""
    loaded, first, last, households, sensors = inserted
    con.execute(  # households already known (simulated ones too) are left as they are
        "insert or ignore into raw.households "
        "select household_id, 'file', 'UTC', null, ?, ? from unnest(?::varchar[]) t(household_id)",
        [plan.batch_id, started, households],
    )
    details = {"format": plan.fmt, "layout": plan.layout, "sensors": sensors, "delimiter": plan.delimiter,
               "timestamp_column": plan.names[plan.ts], "timestamp_format": fmt,
               "household_column": None if plan.household is None else plan.names[plan.household],
               "default_household": default_household if plan.household is None else None,
               "ingest_key": plan.ingest_key, "compression": plan.compression, "encoding": plan.encoding,
               **{k: result[k] for k in ("already_present", "repeated", "conflicting", "replacing")}}
    con.execute(
        "insert into raw.batches values (?, 'file', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'loaded', ?)",
        [plan.batch_id, str(plan.path), plan.content_hash, loaded, result["rows_quarantined"], len(households),
         first, last, started, utcnow(), json.dumps(details)],
    )
    return IngestResult(str(plan.path), plan.batch_id, loaded, result["rows_quarantined"], tuple(households),
                        tuple(sensors), False, plan.layout, result["already_present"], result["repeated"],
                        result["conflicting"], result["replacing"], None, plan.batch_id)


def _drop_temp_tables(con) -> None:
    """Drop every per-file temp table, so the next file in the transaction starts clean."""
    for table in TEMP_TABLES:
        con.execute(f"drop table if exists {table}")
