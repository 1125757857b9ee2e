"""Ingest sensor files (CSV or Parquet, long or wide) into the raw schema.

Every file is checked before anything is written; then all files load in one
transaction, each as one batch. The heavy work is DuckDB SQL over a staged copy of
the file: readings that parse are inserted, every row or cell that does not goes to
raw.quarantine with its line number and the reason. A file whose bytes were already
ingested (same sha256) is skipped, so re-running an ingest adds nothing.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import duckdb

from warehouse.connection import WarehouseError, transaction, writer

TIMESTAMP_NAMES = ("timestamp", "reading_at", "time", "datetime", "date_time", "date", "ts", "time_stamp")
HOUSEHOLD_NAMES = ("household", "household_id", "home", "home_id", "house")
SENSOR_NAMES = ("sensor", "sensor_name", "sensor_id", "metric", "variable")
VALUE_NAMES = ("value", "reading", "val", "measurement")
PARQUET_SUFFIXES = (".parquet", ".pq")
NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
                 "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")  # strict: none accepts an offset
DELIMITERS = (";", "\t", ",", "|")  # ties in the header go to the earlier one
TEMPORAL_TYPES = ("TIMESTAMP", "DATE")  # prefixes of DuckDB type names
EXACT_NUMERIC_TYPES = ("DOUBLE", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                       "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "DECIMAL")


class IngestError(WarehouseError):
    """A file cannot be ingested; nothing was written."""


@dataclasses.dataclass(frozen=True)
class IngestResult:
    path: str  # absolute path of the file
    batch_id: str | None  # None when skipped
    rows_loaded: int  # readings inserted
    rows_quarantined: int  # rows (long) or rows and cells (wide) sent to raw.quarantine
    households: tuple[str, ...]
    sensors: tuple[str, ...]
    skipped: bool  # True: identical content was already ingested; nothing added
    layout: str  # 'long' or 'wide'


@dataclasses.dataclass
class _Plan:
    """What validation learned about one file; columns are staged as c0..cN."""

    given: str
    path: Path
    fmt: str  # 'csv' or 'parquet'
    names: list[str]  # column names as in the file
    types: list[str]  # DuckDB types ('VARCHAR' for every CSV column)
    delimiter: str | None = None  # CSV only
    encoding: str = "utf-8"  # CSV only
    layout: str = ""  # 'long' or 'wide'
    ts: int = -1
    household: int | None = None
    sensor: int | None = None  # long layout
    value: int | None = None  # long layout
    sensor_cols: list[int] = dataclasses.field(default_factory=list)  # wide layout
    content_hash: str = ""
    lines: int | None = None  # physical lines in a plain CSV, for exact line numbers
    row_base: int = 0  # rowid of the first staged CSV row

    @property
    def batch_id(self) -> str:
        return f"file-{self.content_hash[:12]}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def normalise_name(name: str) -> str:
    """Lower-case; runs of anything but [a-z0-9] become '_'; no leading or trailing '_'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ingest_files(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    *,
    db=None,
    household: str | None = None,
    column_map: Mapping[str, str] | None = None,
    timestamp_column: str | None = None,
    timestamp_format: str | None = None,
    delimiter: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[IngestResult]:
    """Check every file, then load them all in one transaction; one result per file, in order.

    Raises IngestError (and writes nothing) when any file is missing, unreadable, empty,
    not CSV/Parquet, or has no timestamp column.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    progress = progress or (lambda _msg: None)
    column_map = {k.strip().lower(): v for k, v in (column_map or {}).items()}
    delimiter = _delimiter_option(delimiter)
    plans = [_plan(p, timestamp_column, delimiter) for p in paths]
    if not plans:
        return []
    _probe(plans, timestamp_format)
    results = []
    with writer(db) as con:
        with transaction(con):
            _register_column_map(con, column_map)
            seen: dict[str, str] = {}
            for plan in plans:
                done = _already_ingested(con, plan.content_hash) or seen.get(plan.content_hash)
                if done:
                    progress(f"{plan.given}: skipped, identical content already ingested as batch {done}")
                    results.append(IngestResult(str(plan.path), None, 0, 0, (), (), True, plan.layout))
                    continue
                seen[plan.content_hash] = plan.batch_id
                result = _load(con, plan, household or _stem(plan.path), timestamp_format)
                progress(
                    f"{plan.given}: {result.rows_loaded:,} readings loaded, {result.rows_quarantined:,} "
                    f"quarantined ({plan.layout} layout, {len(result.sensors)} sensors, "
                    f"{len(result.households)} households), batch {result.batch_id}"
                )
                results.append(result)
            con.execute("drop table if exists hw_column_map")
    return results


# ---------------------------------------------------------------- validation


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", *PARQUET_SUFFIXES, ".csv", ".tsv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or path.name


def _delimiter_option(delimiter: str | None) -> str | None:
    if delimiter is None:
        return None
    delimiter = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ","}.get(delimiter.lower(), delimiter)
    if len(delimiter) != 1:
        raise IngestError(f"the delimiter must be one character (or 'tab'), got {delimiter!r}")
    return delimiter


def _plan(given, timestamp_column: str | None, delimiter: str | None) -> _Plan:
    path = Path(given).expanduser().resolve()
    label = str(given)
    if not path.exists():
        raise IngestError(f"{label}: no such file")
    if not path.is_file():
        raise IngestError(f"{label}: not a file")
    try:
        content_hash, newlines, last = _hash_file(path)
    except OSError as exc:
        raise IngestError(f"{label}: cannot be read: {exc.strerror or exc}") from exc
    if newlines is None and last is None:
        raise IngestError(f"{label}: the file has no data rows (it is empty: 0 bytes)")
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        plan = _plan_parquet(label, path)
    else:
        plan = _plan_csv(label, path, delimiter)
        if not path.name.lower().endswith(".gz"):
            plan.lines = newlines + (last != b"\n")
    plan.content_hash = content_hash
    _assign_roles(plan, timestamp_column)
    return plan


def _hash_file(path: Path) -> tuple[str, int | None, bytes | None]:
    """sha256 of the bytes, the count of b'\\n' and the last byte (None, None for 0 bytes)."""
    digest, newlines, last = hashlib.sha256(), 0, None
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), (newlines if last is not None else None), last


def _plan_csv(label: str, path: Path, delimiter: str | None) -> _Plan:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            header_bytes = fh.readline(1 << 20)
            has_data = any(line.strip() for line in fh)
    except (OSError, EOFError) as exc:
        raise IngestError(f"{label}: cannot be read as CSV: {exc}") from exc
    encoding = "utf-8"
    try:
        header = header_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding, header = "latin-1", header_bytes.decode("latin-1")
    if "\x00" in header:
        raise IngestError(f"{label}: cannot be read as CSV: it holds binary data, not text")
    header = header.rstrip("\r\n")
    if not header.strip():
        raise IngestError(f"{label}: cannot be read as CSV: the first line is empty; it must be the header")
    if not has_data:
        raise IngestError(f"{label}: the file has no data rows (only a header)")
    delim = delimiter or max(DELIMITERS, key=lambda d: (header.count(d), -DELIMITERS.index(d)))
    if delimiter is None and header.count(delim) == 0:
        delim = ","
    names = [n.strip() for n in next(csv.reader([header], delimiter=delim))]
    names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    return _Plan(label, path, "csv", names, ["VARCHAR"] * len(names), delimiter=delim, encoding=encoding)


def _plan_parquet(label: str, path: Path) -> _Plan:
    con = duckdb.connect()
    try:
        described = con.execute(f"describe select * from read_parquet({_lit(str(path))})").fetchall()
        rows = con.execute(f"select count(*) from read_parquet({_lit(str(path))})").fetchone()[0]
    except duckdb.Error as exc:
        raise IngestError(f"{label}: cannot be read as Parquet: {exc}") from exc
    finally:
        con.close()
    if rows == 0:
        raise IngestError(f"{label}: the file has no data rows")
    return _Plan(label, path, "parquet", [d[0] for d in described], [d[1] for d in described])


def _find(names: list[str], candidates: Iterable[str], skip: set[int] = frozenset()) -> int | None:
    keys = [normalise_name(n) for n in names]
    for cand in candidates:
        for i, key in enumerate(keys):
            if i not in skip and key == cand:
                return i
    return None


def _assign_roles(plan: _Plan, timestamp_column: str | None) -> None:
    names = plan.names
    if timestamp_column:
        wanted = timestamp_column.strip().lower()
        ts = next((i for i, n in enumerate(names) if n.lower() == wanted), None)
        if ts is None:
            ts = _find(names, [normalise_name(timestamp_column)])
        if ts is None:
            raise IngestError(
                f"{plan.given}: no column named {timestamp_column!r} (columns: {', '.join(names)})")
    else:
        ts = _find(names, TIMESTAMP_NAMES)
        if ts is None:
            raise IngestError(
                f"{plan.given}: no timestamp column found (looked for: {', '.join(TIMESTAMP_NAMES)}); "
                "name it with --timestamp-column")
    plan.ts = ts
    plan.household = _find(names, HOUSEHOLD_NAMES, {ts})
    taken = {ts} | ({plan.household} if plan.household is not None else set())
    plan.sensor = _find(names, SENSOR_NAMES, taken)
    plan.value = _find(names, VALUE_NAMES, taken | {plan.sensor})
    if plan.sensor is not None and plan.value is not None:
        plan.layout = "long"
        return
    plan.layout, plan.sensor, plan.value = "wide", None, None
    plan.sensor_cols = [i for i in range(len(names)) if i not in taken]
    if not plan.sensor_cols:
        raise IngestError(
            f"{plan.given}: no sensor columns: a long file needs a sensor and a value column, "
            f"a wide file one column per sensor (columns: {', '.join(names)})")


def _probe(plans: list[_Plan], fmt: str | None) -> None:
    """Let DuckDB open each CSV with the options the load will use (gzip, encoding), and try the format."""
    con = duckdb.connect()
    try:
        if fmt:
            try:
                con.execute("select try_strptime('2000-01-01', ?)", [fmt]).fetchall()
            except duckdb.Error as exc:
                raise IngestError(f"invalid timestamp format {fmt!r}: {exc}") from exc
        for plan in plans:
            if plan.fmt != "csv":
                continue
            try:
                con.execute(f"select * from {_read_csv(plan, rejects=False)} limit 1").fetchall()
            except duckdb.Error as exc:
                raise IngestError(f"{plan.given}: cannot be read as CSV: {exc}") from exc
    finally:
        con.close()


def _already_ingested(con, content_hash: str) -> str | None:
    row = con.execute("select batch_id from raw.batches where content_hash = ?", [content_hash]).fetchone()
    return row[0] if row else None


def _register_column_map(con, column_map: dict[str, str]) -> None:
    con.execute("create or replace temp table hw_column_map (src varchar, dst varchar)")
    if column_map:
        con.executemany("insert into hw_column_map values (?, ?)", list(column_map.items()))


# ---------------------------------------------------------------- SQL pieces


def _read_csv(plan: _Plan, rejects: bool = True) -> str:
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(plan.names)))
    options = [f"columns={{{columns}}}", "header=true", f"delim={_lit(plan.delimiter)}", "quote='\"'",
               "escape='\"'", "auto_detect=false", "null_padding=false", f"encoding={_lit(plan.encoding)}"]
    if rejects:
        options += ["store_rejects=true", "rejects_table='hw_rejects'", "rejects_scan='hw_reject_scans'"]
    else:
        options += ["ignore_errors=true"]
    return f"read_csv({_lit(str(plan.path))}, {', '.join(options)})"


def _text(plan: _Plan, i: int) -> str:
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
    return f"({expr} is null or trim({expr}) = '')"


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
    return (f"case when {_blank(text)} then 'missing timestamp' "
            f"when {ts_expr} is null then format('timestamp ''{{}}'' is not a date/time', {text}) "
            f"when not isfinite({ts_expr}) then format('timestamp ''{{}}'' is not a finite date/time', {text}) end")


def _value_problem(text: str, number: str, sensor: str) -> str:
    which = f"format('value ''{{}}''', {text}) || coalesce(format(' for sensor ''{{}}''', {sensor}), '')"
    return (f"case when {_blank(text)} then 'missing value' "
            f"when {number} is null then {which} || ' is not a number' "
            f"when not isfinite({number}) then {which} || ' is not finite' end")


# ---------------------------------------------------------------- loading

TEMP_TABLES = ("hw_stage", "hw_household_map", "hw_sensor_map", "hw_bad", "hw_rejects", "hw_reject_scans",
               "hw_lines", "hw_skips")


def _load(con, plan: _Plan, default_household: str, fmt: str | None) -> IngestResult:
    started = _utcnow()
    params = {"batch": plan.batch_id, "now": started}
    _stage(con, plan)
    ts = _timestamp(con, plan, fmt)
    household, household_join = _households(con, plan, default_household)
    if plan.layout == "long":
        _load_long(con, plan, ts, household, household_join, params)
    else:
        _load_wide(con, plan, ts, household, household_join, params)
    quarantined = _quarantine(con, plan, params)
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
         started, _utcnow(), json.dumps(details)],
    )
    for table in TEMP_TABLES:
        con.execute(f"drop table if exists {table}")
    return IngestResult(str(plan.path), plan.batch_id, loaded, quarantined, tuple(households), tuple(sensors),
                        False, plan.layout)


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


def _sensor_sql(expr: str) -> str:
    return f"trim(regexp_replace(lower({expr}), '[^a-z0-9]+', '_', 'g'), '_')"


def _load_long(con, plan: _Plan, ts: str, household: str, household_join: str, params: dict) -> None:
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
    cols = [f"c{i}" for i in plan.sensor_cols]
    con.execute("create temp table hw_sensor_map (col varchar, name varchar, fallback varchar)")
    con.executemany("insert into hw_sensor_map values (?, ?, ?)",
                    [[f"c{i}", plan.names[i], f"column_{i + 1}"] for i in plan.sensor_cols])
    # A header with no letters or digits (say '%') still names a sensor: column_<n>.
    con.execute(f"""
        create or replace temp table hw_sensor_map as
        select s.col, coalesce(nullif({_sensor_sql('coalesce(m.dst, s.name)')}, ''), s.fallback) as sensor
        from hw_sensor_map s left join hw_column_map m on m.src = lower(trim(s.name))""")
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
