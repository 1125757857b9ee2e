"""Benchmark: ingest a Home Assistant recorder database (home-assistant_v2.db) into a fresh warehouse.

Target: >= 1,000,000 states/s for 10M states, counting everything ingest_files does with a
recorder database (schema check, entity choice, reading states, parsing, holding states on
the grid, insert, commit). The database (schema version 41, see warehouse/ingest/recorder.py)
is written by SQLite itself and is not part of the timing: ENTITIES entities (temperatures,
humidities, doors, motion sensors, and a light that is not loaded) each reporting a state
every 30 seconds, round-robin, from 2024-01-01.

    .venv/bin/python bench/bench_homeassistant.py [--states 10000000] [--keep]

create_recorder_db is also what tests/test_homeassistant.py builds its fixture databases with.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import peak_rss_mb, record, timed  # noqa: E402

# The recorder's SQLite tables as Home Assistant's db_schema.py (SCHEMA_VERSION 41) creates
# them; legacy columns are CHAR(0). Only what the reader uses is filled in.
RECORDER_DDL = """
create table event_types (event_type_id integer primary key, event_type varchar(64));
create table event_data (data_id integer primary key, hash bigint, shared_data text);
create table events (event_id integer primary key, event_type char(0), event_data char(0), origin char(0),
    origin_idx smallint, time_fired char(0), time_fired_ts float, context_id char(0), context_user_id char(0),
    context_parent_id char(0), data_id integer, context_id_bin blob, context_user_id_bin blob,
    context_parent_id_bin blob, event_type_id integer);
create table state_attributes (attributes_id integer primary key, hash bigint, shared_attrs text);
create index ix_state_attributes_hash on state_attributes (hash);
create table states_meta (metadata_id integer primary key, entity_id varchar(255));
create unique index ix_states_meta_entity_id on states_meta (entity_id);
create table states (state_id integer primary key, entity_id char(0), state varchar(255), attributes char(0),
    event_id smallint, last_changed char(0), last_changed_ts float, last_updated char(0), last_updated_ts float,
    old_state_id integer, attributes_id integer, context_id char(0), context_user_id char(0),
    context_parent_id char(0), origin_idx smallint, context_id_bin blob, context_user_id_bin blob,
    context_parent_id_bin blob, metadata_id integer);
create table statistics_meta (id integer primary key, statistic_id varchar(255), source varchar(32),
    unit_of_measurement varchar(255), has_mean boolean, has_sum boolean, name varchar(255));
create unique index ix_statistics_meta_statistic_id on statistics_meta (statistic_id);
create table statistics (id integer primary key, created char(0), created_ts float, metadata_id integer,
    start char(0), start_ts float, mean float, min float, max float, last_reset char(0), last_reset_ts float,
    state float, sum float);
create unique index ix_statistics_statistic_id_start_ts on statistics (metadata_id, start_ts);
create table statistics_short_term (id integer primary key, created char(0), created_ts float,
    metadata_id integer, start char(0), start_ts float, mean float, min float, max float, last_reset char(0),
    last_reset_ts float, state float, sum float);
create table statistics_runs (run_id integer primary key, start datetime);
create table recorder_runs (run_id integer primary key, start datetime, "end" datetime,
    closed_incorrect boolean, created datetime);
create table schema_changes (change_id integer primary key, schema_version integer, changed datetime);
"""
INDEXES = """
create index ix_states_metadata_id_last_updated_ts on states (metadata_id, last_updated_ts);
create index ix_states_last_updated_ts on states (last_updated_ts);
create index ix_states_old_state_id on states (old_state_id);
create index ix_states_attributes_id on states (attributes_id);
"""
T0 = 1704067200.0  # 2024-01-01 00:00 UTC
ENTITIES = ([(f"sensor.room_{i:02d}_temperature", {"unit_of_measurement": "°C", "device_class": "temperature"})
             for i in range(20)]
            + [(f"sensor.room_{i:02d}_humidity", {"unit_of_measurement": "%", "device_class": "humidity"})
               for i in range(10)]
            + [(f"binary_sensor.door_{i}", {"device_class": "door"}) for i in range(5)]
            + [(f"binary_sensor.motion_{i}", {"device_class": "motion"}) for i in range(4)]
            + [("light.kitchen", {"friendly_name": "Kitchen"})])


def create_recorder_db(path: Path, entities=(), states=(), statistics=(), version: int = 41) -> sqlite3.Connection:
    """A recorder database with the schema above. entities: (entity_id, attributes dict);
    states: (entity_id, state, last_updated_ts); statistics: (entity_id, start_ts, mean, min, max).
    Returns the open connection (committed), to add more with add_states."""
    con = sqlite3.connect(path)
    con.executescript(RECORDER_DDL + INDEXES)
    con.execute("insert into schema_changes (schema_version, changed) values (?, '2024-01-01 00:00:00')", [version])
    for entity_id, attrs in entities:
        con.execute("insert into states_meta (entity_id) values (?)", [entity_id])
        con.execute("insert into state_attributes (hash, shared_attrs) values (0, ?)", [json.dumps(attrs)])
    for entity_id, *_ in statistics:
        con.execute("insert or ignore into statistics_meta (statistic_id, source, has_mean, has_sum) "
                    "values (?, 'recorder', 1, 0)", [entity_id])
    con.executemany(
        "insert into statistics (created_ts, metadata_id, start_ts, mean, min, max) "
        "select ?, id, ?, ?, ?, ? from statistics_meta where statistic_id = ?",
        [(s[1], s[1], s[2], s[3], s[4], s[0]) for s in statistics])
    add_states(con, states)
    return con


def add_states(con: sqlite3.Connection, states) -> None:
    """Append states (entity_id, state, last_updated_ts), with the entity's attributes row."""
    con.executemany(
        "insert into states (state, last_updated_ts, metadata_id, attributes_id) "
        "select ?, ?, metadata_id, metadata_id from states_meta where entity_id = ?",
        [(s, t, e) for e, s, t in states])
    con.commit()


def write_big(path: Path, n: int) -> None:
    """n states, round-robin over ENTITIES, one per entity every 30 s, generated inside SQLite."""
    con = create_recorder_db(path, ENTITIES)
    con.executescript("drop index ix_states_metadata_id_last_updated_ts; drop index ix_states_last_updated_ts; "
                      "drop index ix_states_old_state_id; drop index ix_states_attributes_id;")
    e = len(ENTITIES)
    # temperatures 18-24 °C, humidities 40-80 %, binary sensors flip, the light too
    con.execute(f"""
        insert into states (state_id, state, last_updated_ts, metadata_id, attributes_id)
        with recursive c(i) as (select 0 union all select i + 1 from c where i + 1 < {n})
        select i + 1,
               case when i % {e} < 20 then printf('%.1f', 18 + ((i / {e}) % 60) / 10.0)
                    when i % {e} < 30 then printf('%.0f', 40 + ((i / {e}) % 40))
                    when (i / {e}) % 2 = 0 then 'on' else 'off' end,
               {T0} + (i / {e}) * 30.0 + (i % {e}) * 0.01, i % {e} + 1, i % {e} + 1
        from c""")
    con.executescript(INDEXES)
    con.commit()
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--states", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database and the warehouse, and print where")
    args = parser.parse_args()
    from warehouse.connection import reader
    from warehouse.ingest import ingest_files

    tmp = Path(tempfile.mkdtemp(prefix="bench_homeassistant_"))
    try:
        src, db = tmp / "home-assistant_v2.db", tmp / "bench.duckdb"
        figures: dict = {"states": args.states}
        with timed(figures, "write_db_s"):
            write_big(src, args.states)
        figures["db_mb"] = round(src.stat().st_size / 2**20, 1)
        cpu = time.process_time()
        with timed(figures, "ingest_s"):
            [result] = ingest_files([src], db=db, household="bench")
        # CPU seconds of every thread: on a machine shared with other work, states per CPU second
        # says what the code does when it has the cores to itself
        figures["ingest_cpu_s"] = round(time.process_time() - cpu, 3)
        figures["load_average"] = round(os.getloadavg()[0], 2)
        with reader(db) as con:
            figures["readings"] = con.execute("select count(*) from raw.readings").fetchone()[0]
        figures["rows_loaded"] = result.rows_loaded
        figures["states_per_s"] = round(args.states / figures["ingest_s"])
        figures["states_per_cpu_s"] = round(args.states / figures["ingest_cpu_s"])
        with timed(figures, "reingest_s"):
            [again] = ingest_files([src], db=db, household="bench")
        figures["reingest_loaded"] = again.rows_loaded
        figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
        record("homeassistant_recorder_ingest", figures, {"states_per_s": (">=", 1_000_000)})
        if args.keep:
            print(f"kept: {tmp}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
