"""Read a Home Assistant recorder database (home-assistant_v2.db) with Python's sqlite3.

Tables read: states (state, last_updated_ts, metadata_id, attributes_id), states_meta
(entity ids), state_attributes (the unit and device class of each entity, from its newest
state's attributes JSON), schema_changes (the schema version), and where they exist
statistics / statistics_meta: the hourly means of the long-term statistics, for the time
before the oldest state the database still keeps (the recorder purges states after
`purge_keep_days`, 10 by default; statistics are kept for ever). Hourly minimum and maximum
are not loaded: the grid holds one value per step.

Incremental: an ingest loads the grid steps that have ended by the newest state of the
database; raw.ingest_watermarks keeps, per database path, the newest state_id read and the
start of the step not loaded yet (held_through). The next ingest reads the states with a larger
state_id, the states of that unfinished step again, and the state each entity was in at its
start, and loads from that step on. Readings the warehouse already holds are skipped as for
files, so a database copied elsewhere (a new path, no watermark) adds nothing it already gave.

Speed: the states are read in state_id ranges by a pool of threads, each asking SQLite for
one text per column of the range, one value a line (group_concat runs in C, with the GIL
released; the time and metadata_id as one number), that pyarrow parses, the state as a
dictionary (_read_chunk); each distinct state text is then made a value once (_nums) and the
rest is whole numpy columns handed to DuckDB as Arrow, which holds the states on the grid
(homeassistant.expand). No per-state Python, and pandas is never imported.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from warehouse.connection import utcnow
from warehouse.ingest import homeassistant as ha
from warehouse.ingest.model import IngestError, _Plan

# The recorder schema this reader follows: SCHEMA_VERSION 41 of Home Assistant's
# homeassistant/components/recorder/db_schema.py (tables states, states_meta,
# state_attributes, statistics, statistics_meta). Later versions up to MAX_SCHEMA add
# columns this reader does not use; the columns below are checked on every database.
MIN_SCHEMA, MAX_SCHEMA = 41, 50
REQUIRED = {"states": {"state_id", "state", "last_updated_ts", "metadata_id", "attributes_id"},
            "states_meta": {"metadata_id", "entity_id"},
            "state_attributes": {"attributes_id", "shared_attrs"},
            "schema_changes": {"schema_version"}}
STATISTICS = {"statistics": {"metadata_id", "start_ts", "mean"}, "statistics_meta": {"id", "statistic_id"}}
LOOKS_LIKE = ("this looks like a SQLite database (for example a Home Assistant recorder database, "
              "home-assistant_v2.db, which is read directly)")
EPOCH = dt.datetime(1970, 1, 1)
RECORDER_HOUSEHOLD = "home"  # the household of a database's entities without --household or --entities
CHUNK_STATES = 200_000  # state ids per read
THREADS = max(1, min(16, os.cpu_count() or 1))


def _open(path: Path) -> sqlite3.Connection:
    # as_uri quotes the characters a URI gives a meaning to (?, #, %, spaces) in the path
    con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    con.execute("pragma query_only = true")
    return con


def _columns(sq, table: str) -> set[str]:
    return {r[1] for r in sq.execute(f"pragma table_info({table})").fetchall()}


def schema_version(sq, label: str) -> int:
    """The recorder schema version, or IngestError when the file is not a recorder database we read."""
    tables = {r[0] for r in sq.execute("select name from sqlite_master where type = 'table'").fetchall()}
    if not {"states", "schema_changes"} <= tables:
        raise IngestError(f"{label}: cannot be read as CSV: {LOOKS_LIKE}, but it has no states and schema_changes "
                          "tables, so it is not one; export the readings to CSV and ingest that; nothing was loaded "
                          "from it")
    row = sq.execute("select schema_version from schema_changes order by change_id desc limit 1").fetchone()
    version = row[0] if row else None
    if version is None or not MIN_SCHEMA <= version <= MAX_SCHEMA:
        raise IngestError(f"{label}: Home Assistant recorder schema version {version} is not one this HomeWatch "
                          f"reads (versions {MIN_SCHEMA} to {MAX_SCHEMA}); export the history as CSV from Home "
                          "Assistant (History, download data) and ingest that; nothing was loaded")
    for table, needed in REQUIRED.items():
        lacking = needed - _columns(sq, table)
        if lacking:
            raise IngestError(f"{label}: recorder table {table} lacks column(s) {', '.join(sorted(lacking))} "
                              f"expected in schema version {version}; nothing was loaded")
    return version


def plan_recorder(label: str, path: Path) -> _Plan:
    """Check a SQLite file before the warehouse is opened: a recorder database of a known schema."""
    try:
        sq = _open(path)
        try:
            version = schema_version(sq, label)
        finally:
            sq.close()
    except sqlite3.Error as exc:
        raise IngestError(f"{label}: cannot be read as CSV: {LOOKS_LIKE}, but SQLite cannot open it ({exc}); "
                          "nothing was loaded from it") from exc
    plan = _Plan(label, path, "sqlite", ["entity_id", "state", "last_updated"], ["VARCHAR"] * 3,
                 layout="recorder", ts=2)
    plan.size, plan.note = path.stat().st_size, f"Home Assistant recorder database, schema {version}"
    return plan


def _entities(sq) -> tuple[list[ha.Entity], dict[str, int]]:
    """Every entity with its newest unit and device class; and entity id -> metadata_id."""
    ids = {e: m for m, e in sq.execute("select metadata_id, entity_id from states_meta "
                                       "where entity_id is not null").fetchall()}
    entities = []
    for entity_id, metadata_id in sorted(ids.items()):
        row = sq.execute("select a.shared_attrs from states s join state_attributes a using (attributes_id) "
                         "where s.metadata_id = ? order by s.last_updated_ts desc limit 1", [metadata_id]).fetchone()
        try:
            attrs = json.loads(row[0]) if row and row[0] else {}
        except ValueError:
            attrs = {}
        attrs = attrs if isinstance(attrs, dict) else {}
        entities.append(ha.Entity(entity_id.lower(), attrs.get("unit_of_measurement"), attrs.get("device_class"),
                                  attrs.get("state_class")))
    return entities, {k.lower(): v for k, v in ids.items()}


# the state as a dictionary: a home's states repeat (on, off, 21.5), so each distinct text is
# read, and made a value, once (see _nums)
_SCHEMA = pa.schema([("metadata_id", pa.int64()), ("rn", pa.int64()), ("t", pa.int64()),
                     ("state", pa.dictionary(pa.int32(), pa.string()))])
_US = "\x1f"  # the field separator of the text SQLite makes: no state holds it


_PARSED = {"key": pa.int64(), "rn": pa.int64(), "state": _SCHEMA.field("state").type}
_TS = "cast(last_updated_ts * 1000000 as integer)"  # microseconds
_WHERE = ("from states where state_id > ? and state_id <= ? and metadata_id is not null "
          "and last_updated_ts is not null")


def _read_chunk(path: Path, lo: int, hi: int, with_ids: list[bool], bits: int | None) -> pa.Table:
    """States lo < state_id <= hi: one text per column from SQLite (group_concat, one value a
    line), each parsed by pyarrow. The time (in microseconds) and the metadata_id come as one
    number, time * 2**bits + metadata_id, split again in numpy: a column fewer for SQLite to make
    text of, which costs it more than reading the states (and no printf per state). bits: what
    every metadata_id of the table fits in (read_states), None when they are not all integers
    from 0.

    The state_id is left out when every id of the range is there (SQLite scans them in order: the
    rows are lo + 1 to hi); when some are not (deleted, or no entity or time), the range is read
    with them, and so are the ranges after it (with_ids[0] is set). A range whose columns do not
    come back as one integer or text per state (a line break in a state, a metadata_id stored as a
    real, a time too far out for 64 bits: SQLite makes the number a real) is read as one text a
    state instead (_read_chunk_text), which gives what earlier versions gave."""
    if bits is None:
        return _read_chunk_text(path, lo, hi, with_ids)
    read_ids = with_ids[0]  # once: another range's thread may set it meanwhile
    sq = _open(path)
    sq.text_factory = bytes  # pyarrow reads the bytes as they are: no decoding to str and back
    try:
        # the separator is a literal: char(10) would be called again for every state (a third of the time)
        ids = "group_concat(state_id, '\n'), " if read_ids else ""
        count, *texts = sq.execute(
            f"select count(*), group_concat({_TS} * {1 << bits} + metadata_id, '\n'), {ids}"
            # no test of NULL ids and times here: NULL keys are left out of their text (None when
            # all are), which is then shorter than the states', and the range is read as text
            f"group_concat(coalesce(state, ''), '\n') from states where state_id > ? and state_id <= ?",
            [lo, hi]).fetchone()
    finally:
        sq.close()
    if not count:
        return _SCHEMA.empty_table()
    if not read_ids and count != hi - lo:
        with_ids[0] = True
        return _read_chunk(path, lo, hi, with_ids, bits)
    try:
        # the states' text ends with a line break: an empty last state is a line too
        columns = ([_parse_column(t, n) for t, n in zip(texts[:-1], ("key", "rn"))]
                   + [_parse_column(texts[-1] + b"\n", "state")])
    except pa.ArrowInvalid:  # a number SQLite made a real
        columns = []
    if not columns or any(len(c) != count or c.null_count for c in columns):
        return _read_chunk_text(path, lo, hi, with_ids)
    key = _numpy(columns[0])
    rn = columns[1] if read_ids else _arrow(np.arange(lo + 1, hi + 1, dtype=np.int64))
    return pa.Table.from_arrays([_arrow(key & ((1 << bits) - 1)), rn, _arrow(key >> bits), columns[-1]],
                                schema=_SCHEMA)


def _parse_column(text: bytes, name: str) -> pa.Array:
    """One value a line (as _read_chunk asks SQLite for them) as an Arrow column of _SCHEMA's type."""
    table = pacsv.read_csv(
        io.BytesIO(text), read_options=pacsv.ReadOptions(column_names=[name], use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=_US, quote_char=False, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={name: _PARSED[name]},
                                             strings_can_be_null=False))
    return table.column(0).combine_chunks()


def _read_chunk_text(path: Path, lo: int, hi: int, with_ids: list[bool]) -> pa.Table:
    """States lo < state_id <= hi as one text from SQLite (fields split by _US, the state last, so
    commas and quotes in it need no escaping), parsed by pyarrow: the read of a range _read_chunk
    cannot split into columns. A line break inside a state splits its line: the second part is
    dropped and the state, cut, is quarantined as text."""
    read_ids = with_ids[0]  # once: another range's thread may set it meanwhile
    names = _SCHEMA.names if read_ids else [n for n in _SCHEMA.names if n != "rn"]
    sq = _open(path)
    sq.text_factory = bytes
    try:
        # one printf per state is cheaper in SQLite than concatenating its fields
        (text,) = sq.execute(
            f"select group_concat(printf(?, metadata_id, {'state_id, ' if read_ids else ''}"
            f"{_TS}, coalesce(state, '')), char(10)) {_WHERE}",
            [_US.join(("%d", "%d", "%lld", "%s") if read_ids else ("%d", "%lld", "%s")), lo, hi]).fetchone()
    finally:
        sq.close()
    if not text:
        return _SCHEMA.empty_table()
    table = pacsv.read_csv(
        io.BytesIO(text), read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=_US, quote_char=False, invalid_row_handler=lambda row: "skip"),
        convert_options=pacsv.ConvertOptions(column_types=_SCHEMA, strings_can_be_null=False))
    if "rn" in names:
        return table
    if table.num_rows != hi - lo:
        with_ids[0] = True
        return _read_chunk_text(path, lo, hi, with_ids)
    return table.add_column(1, "rn", _arrow(np.arange(lo + 1, hi + 1, dtype=np.int64)))


def read_states(path: Path, after_id: int, to_id: int) -> pa.Table:
    """Every state after_id < state_id <= to_id (the load keeps the chosen entities' by a join),
    read in parallel chunks: filtering in SQLite costs more than reading the rest."""
    if to_id <= after_id:
        return _SCHEMA.empty_table()
    bounds = [(lo, min(lo + CHUNK_STATES, to_id)) for lo in range(after_id, to_id, CHUNK_STATES)]
    sq = _open(path)
    try:  # each by the index on (metadata_id, last_updated_ts), where there is one
        low, high = (sq.execute(f"select {f}(metadata_id) from states").fetchone()[0] for f in ("min", "max"))
    finally:
        sq.close()
    # the bits the metadata_ids need; None (ids that are not all integers from 0): read as text
    bits = max(1, high.bit_length()) if type(low) is int and type(high) is int and low >= 0 else None
    with_ids = [False]
    with ThreadPoolExecutor(THREADS) as pool:
        parts = list(pool.map(lambda b: _read_chunk(path, b[0], b[1], with_ids, bits), bounds))
    return pa.concat_tables(parts)


def _nums(con, states: pa.Table, extra: list[tuple], entity_of: dict[int, str]) -> pa.Table:
    """The rows of hw_ha_nums as expand(prepared=True) reads them (and eid -1 for the states of
    entities not loaded), from the states read (a _SCHEMA table) and extra rows (metadata_id, rn,
    t, state, carried); makes temp table hw_ha_words (sid, state, ...).

    The work per state is done on whole columns: each distinct state text is made a value once,
    in SQL (homeassistant.words), and taken by its index (sid); batch by batch as read, in threads
    (numpy lets go of the GIL), with no copy of the columns read.
    """
    # first: fetching all of a result frees the connection for register (DuckDB 2 refuses it while
    # an earlier execute's result is unread)
    rows = con.execute("select entity_id, eid, scale, shift from hw_ha_entities").fetchall()
    states = states.unify_dictionaries()
    batches = [b for b in states.to_batches() if b.num_rows]
    read = batches[0].column("state").dictionary if batches else pa.array([], pa.string())
    sid_of = {w: i for i, w in enumerate(read.to_pylist())}
    extra_sids = [sid_of.setdefault(r[3], len(sid_of)) for r in extra]
    con.register("hw_ha_read", pa.table({"sid": _arrow(np.arange(len(read), dtype=np.int32)), "state": read}))
    try:
        con.execute("create or replace temp table hw_ha_texts as select * from hw_ha_read")
    finally:
        con.unregister("hw_ha_read")
    more = [[i, w] for w, i in list(sid_of.items())[len(read):]]  # texts of the extra rows only
    if more:
        con.executemany("insert into hw_ha_texts values (?, ?)", more)
    ha.words(con, "hw_ha_texts")
    con.execute("drop table hw_ha_texts")
    w = con.sql("select coalesce(is_missing, false) as m, coalesce(is_binary, false) as b, "
                "coalesce(cast(bin_value as double), num_value, 'nan') as v, "
                "not coalesce(is_binary, false) and num_value is null as null "
                "from hw_ha_words order by sid").fetchnumpy()
    parts = [(_numpy(b.column("metadata_id")), _numpy(b.column("rn")), _numpy(b.column("t")),
              _numpy(b.column("state").indices), np.zeros(b.num_rows, bool)) for b in batches]
    if extra:
        parts.append((*(np.array([r[i] for r in extra], dtype=np.int64) for i in range(3)),
                      np.array(extra_sids, dtype=np.int32), np.array([r[4] for r in extra], dtype=bool)))
    top = max([max(entity_of, default=0)] + [int(p[0].max()) for p in parts])
    lut = np.full(top + 1, -1, np.int32)
    eid_of = {r[0]: r[1] for r in rows}
    for metadata_id, entity_id in entity_of.items():
        lut[metadata_id] = eid_of[entity_id]
    scale, shift = np.ones(max(len(rows), 1)), np.zeros(max(len(rows), 1))
    for _, e, a, b in rows:
        scale[e], shift[e] = a, b
    scaled = bool((scale != 1).any() or (shift != 0).any())

    def batch(part) -> pa.RecordBatch:
        mid, rn, t, sid, carried = part
        eid = lut[mid]
        is_binary = w["b"][sid]
        value = w["v"][sid]  # a binary word's 1 or 0, else the text as a number: scaled here
        if scaled:
            number = ~is_binary & (eid >= 0)
            value[number] = value[number] * scale[eid[number]] + shift[eid[number]]
        return pa.RecordBatch.from_arrays(
            [_arrow(rn), _arrow(eid), _arrow(sid.astype(np.int32, copy=False)), _arrow(t, pa.timestamp("us")),
             _arrow(carried), _arrow(w["m"][sid]), _arrow(is_binary), _arrow(value, null=w["null"][sid])],
            schema=_NUMS)

    with ThreadPoolExecutor(THREADS) as pool:
        return pa.Table.from_batches(list(pool.map(batch, parts)), schema=_NUMS)


_NUMS = pa.schema([("rn", pa.int64()), ("eid", pa.int32()), ("sid", pa.int32()), ("changed_at", pa.timestamp("us")),
                   ("carried", pa.bool_()), ("is_missing", pa.bool_()), ("is_binary", pa.bool_()),
                   ("value", pa.float64())])


def _numpy(array: pa.Array) -> np.ndarray:
    """An Arrow integer array without NULLs as numpy, its buffer shared (see _arrow)."""
    assert array.null_count == 0, "the states read have no NULL ids, times or states"
    dtype = np.dtype(str(array.type))  # int32, int64
    return np.frombuffer(array.buffers()[1], dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _arrow(values: np.ndarray, kind: pa.DataType | None = None, null: np.ndarray | None = None) -> pa.Array:
    """A numpy column as an Arrow array, its buffer shared (booleans packed to bits); null: where
    it is NULL. Built from buffers: pa.array would import pandas (half a second) to look for it."""
    kind = kind or pa.from_numpy_dtype(values.dtype)
    valid = None if null is None or not null.any() else pa.py_buffer(np.packbits(~null, bitorder="little"))
    data = np.packbits(values, bitorder="little") if values.dtype == np.bool_ else np.ascontiguousarray(values)
    return pa.Array.from_buffers(kind, len(values), [valid, pa.py_buffer(data)])


def _carried(sq, after_id: int, before_ts: float, metadata_ids: list[int]) -> list[tuple]:
    """The state each entity was in at before_ts among the states read before (state_id <= after_id)."""
    rows = []
    for m in metadata_ids:
        row = sq.execute("select state_id, cast(last_updated_ts * 1000000 as integer), coalesce(state, '') "
                         "from states where metadata_id = ? and state_id <= ? and last_updated_ts < ? "
                         "order by last_updated_ts desc limit 1", [m, after_id, before_ts]).fetchone()
        if row:
            rows.append((m, row[0], row[1], row[2]))
    return rows


def _reread(sq, after_id: int, from_ts: float) -> list[tuple]:
    """States read before (state_id <= after_id) in the step that was not complete then (from from_ts)."""
    return sq.execute("select metadata_id, state_id, cast(last_updated_ts * 1000000 as integer), coalesce(state, '') "
                      "from states where last_updated_ts >= ? and state_id <= ? and metadata_id is not null",
                      [from_ts, after_id]).fetchall()


def _floor(t: dt.datetime, step: dt.timedelta) -> dt.datetime:
    """t down to a step boundary (steps counted from midnight UTC, as time_bucket does for these steps)."""
    day = dt.datetime(t.year, t.month, t.day)
    return day + (t - day) // step * step


def _statistics(sq, states_from: float | None, after_ts: float | None, stat_ids: dict[str, int]) -> list[tuple]:
    """Hourly means before the oldest state kept (states_from), newer than after_ts; as state rows."""
    tables = {r[0] for r in sq.execute("select name from sqlite_master where type = 'table'").fetchall()}
    if states_from is None or not all(t in tables and cols <= _columns(sq, t) for t, cols in STATISTICS.items()):
        return []
    ids = {r[1].lower(): r[0] for r in sq.execute("select id, statistic_id from statistics_meta").fetchall()
           if r[1] and r[1].lower() in stat_ids}
    if not ids:
        return []
    by_stat = {v: stat_ids[k] for k, v in ids.items()}
    rows = sq.execute(
        f"select metadata_id, id, cast(start_ts * 1000000 as integer), mean from statistics "
        f"where metadata_id in ({', '.join(str(i) for i in ids.values())}) and mean is not null "
        f"and start_ts + 3600 <= ? and start_ts > ?", [states_from, after_ts or -1e18]).fetchall()
    return [(by_stat[m], -i, t, repr(float(v))) for m, i, t, v in rows]


def _watermark(con, source: str) -> tuple:
    """(states_through_id, held_through, statistics_through_ts, states_from_ts, entity_sensors dict)."""
    rows = con.execute("select states_through_id, held_through, statistics_through_ts, states_from_ts, "
                       "entity_sensors from raw.ingest_watermarks where source_ref = ?", [source]).fetchall()
    if not rows:
        return 0, None, None, None, {}
    return (*rows[0][:4], json.loads(rows[0][4]) if rows[0][4] else {})


def load_recorder(con, plan: _Plan, default_household: str, options: ha.Options, bounds: dict, limits,
                  progress):
    """Load the new states of a recorder database as one batch; an IngestResult (see load.IngestResult)."""
    from warehouse.ingest.load import IngestResult

    started, source = bounds["now"], str(plan.path)
    sq = _open(plan.path)
    try:
        version = schema_version(sq, plan.given)
        entities, meta = _entities(sq)
        plan.sensor_names = [e.entity_id for e in entities]
        household = options.household or default_household
        after_id, held_through, stats_through, states_from, remembered = _watermark(con, source)
        for line in ha.choose_sensors(entities, options.rules, options.column_map, household, only_known=True,
                                      remembered=remembered):
            progress(f"{plan.given}: {line}")
        chosen = [e for e in entities if e.sensor]
        ids = [meta[e.entity_id] for e in chosen]
        to_id, end_ts = sq.execute("select max(state_id), max(last_updated_ts) from states").fetchone()
        to_id = to_id or 0
        if to_id <= after_id:
            return IngestResult(source, None, 0, 0, (), (), False, plan.layout)
        states = read_states(plan.path, after_id, to_id)
        # the last read loaded the steps that had ended; read the states of the step after again
        first_ts = (held_through - EPOCH).total_seconds() if held_through else None
        carried = _carried(sq, after_id, first_ts, ids) if after_id else []
        again = _reread(sq, after_id, first_ts) if after_id else []
        oldest = sq.execute("select min(last_updated_ts) from states").fetchone()[0]
        states_from = states_from if states_from is not None else oldest
        stats = _statistics(sq, states_from, stats_through, {e.entity_id: meta[e.entity_id] for e in chosen})
    finally:
        sq.close()
    plan.ingest_key = hashlib.sha256(f"{source}\n{after_id}\n{to_id}".encode()).hexdigest()
    plan.content_hash = None
    progress(f"{plan.given}: {states.num_rows:,} new states (state_id {after_id + 1} to {to_id})"
             + (f" and {len(stats):,} hourly statistics" if stats else ""))
    extra = [r + (True,) for r in carried] + [r + (False,) for r in stats + again]
    ha.register_entities(con, entities)
    step = ha.grid_step(con)
    end_at = EPOCH + dt.timedelta(seconds=end_ts)
    try:
        con.register("hw_ha_arrow", _nums(con, states, extra, {meta[e.entity_id]: e.entity_id for e in chosen}))
        del states
        con.execute("create temp view hw_ha_nums as select * exclude (sid) from hw_ha_arrow where eid >= 0")
        con.execute("""
            create temp view hw_ha_values as
            select n.rn, e.entity_id, n.eid, e.sensor, e.household_id, n.changed_at, n.carried, w.state,
                   n.is_missing, n.is_binary, n.value
            from hw_ha_arrow n join hw_ha_entities e using (eid) join hw_ha_words w using (sid)""")
        # only the steps that have ended: the recorder may still add states to the last one
        counts = ha.expand(con, step, end_at, held_through, True, bounds, prepared=True)
        return _finish(con, plan, source, started, bounds, counts, step, end_at, to_id, after_id, stats,
                       stats_through, states_from, entities, household, version, limits)
    finally:
        with contextlib.suppress(duckdb.Error):  # a failed transaction keeps its own error
            ha.drop_temp_tables(con)
            con.unregister("hw_ha_arrow")


def _finish(con, plan: _Plan, source: str, started, bounds: dict, counts: dict, step, end_at, to_id: int,
            after_id: int, stats: list, stats_through, states_from, entities, household: str, version: int,
            limits):
    """The rest of load_recorder, once hw_good and hw_bad are made."""
    from warehouse.ingest.load import IngestResult, _drop_present, _drop_temp_tables, _duplicates, _insert_readings
    from warehouse.ingest.load import _record_batch
    from warehouse.ingest.outcome import _failure

    ha.bad_times(con, bounds)
    repeats = ha.finish_good(con)
    valued = counts["valued"]
    dup = dict(zip(("repeated", "conflicting"), _duplicates(con, repeats)))
    quarantined = _quarantine(con, plan, started)
    failure = _failure(con, plan, "null", valued, quarantined, limits) if quarantined or not valued else None
    if failure and not valued and not quarantined:
        failure = None  # only missing or held states: nothing to load, not a failure
    if failure:
        _cleanup(con, _drop_temp_tables)
        return IngestResult(source, None, 0, quarantined, (), (), False, plan.layout, failure=failure,
                            attempt_id=plan.batch_id)
    present, replacing = _drop_present(con)
    params = {"batch": plan.batch_id, "now": started}
    inserted = _insert_readings(con, params)
    wm = [source, to_id, _floor(end_at, step), max([r[2] for r in stats], default=None), states_from, plan.batch_id, utcnow()]
    if wm[3] is not None:
        wm[3] = wm[3] / 1e6
    elif stats_through is not None:
        wm[3] = stats_through
    wm.append(json.dumps({e.entity_id: e.sensor for e in entities}))
    con.execute("insert or replace into raw.ingest_watermarks (source_ref, source_kind, states_through_id, "
                "held_through, statistics_through_ts, states_from_ts, batch_id, updated_at, entity_sensors) "
                "values (?, 'homeassistant_recorder', ?, ?, ?, ?, ?, ?, ?)", wm)
    if inserted[0] == 0 and quarantined == 0:
        _cleanup(con, _drop_temp_tables)
        return IngestResult(source, None, 0, 0, (), (), False, plan.layout, already_present=present,
                            repeated=dup["repeated"], missing=counts["missing"])
    result = {"rows_quarantined": quarantined, "already_present": present, "replacing": replacing, **dup}
    res = _record_batch(con, plan, started, inserted, result, household, None)
    details = {"format": "homeassistant_recorder", "schema_version": version, "states_from_id": after_id + 1,
               "states_to_id": to_id, "statistics_rows": len(stats),
               "homeassistant": {"entities": {e.entity_id: e.sensor for e in entities},
                                 "missing_states": counts["missing"], "held_readings": counts["held"],
                                 "grid_step_minutes": step.total_seconds() / 60,
                                 "hold_hours": ha.HOLD.total_seconds() / 3600,
                                 "binary_hold_hours": ha.BINARY_HOLD.total_seconds() / 3600}}
    con.execute("update raw.batches set details = json_merge_patch(details, ?) where batch_id = ?",
                [json.dumps(details), plan.batch_id])
    _cleanup(con, _drop_temp_tables)
    return dataclasses.replace(res, missing=counts["missing"])


def _quarantine(con, plan: _Plan, now) -> int:
    """Move hw_bad and hw_conflicts to raw.quarantine: line_number is the state_id (negative: a
    statistics row id), raw_record the state as JSON."""
    source = str(plan.path)
    con.execute("delete from raw.quarantine where source_file = ? and batch_id not in "
                "(select batch_id from raw.batches)", [source])
    con.execute("insert into hw_bad select * from hw_conflicts")
    con.execute("""
        insert into raw.quarantine
        select ?, ?, b.rn, b.household_id,
               cast(json_object('entity_id', s.entity_id, 'state', s.state,
                                'last_updated', strftime(s.changed_at, '%Y-%m-%dT%H:%M:%S.%fZ')) as varchar),
               b.reason, ?
        from hw_bad b join hw_ha_values s using (rn) order by b.rn""", [plan.batch_id, source, now])
    return con.execute("select count(*) from hw_bad").fetchone()[0]


def _cleanup(con, drop_temp_tables) -> None:
    drop_temp_tables(con)
    ha.drop_temp_tables(con)
