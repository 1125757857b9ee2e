"""The warehouse: schema versioning, paths, locking, atomic and idempotent landing."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from simulator.config import SimConfig
from tests.conftest import checksum
from warehouse import connection
from warehouse.connection import WarehouseBusyError, WarehouseError, connect, resolve_db_path, writer
from warehouse.land import land_simulation
from warehouse.schema import SCHEMA_VERSION, current_version, ensure_schema

SMALL = SimConfig(households=2, days=2, seed=1)


def _counts(db) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]
                for t in ("readings", "households", "injected_events", "batches", "simulations")}
    finally:
        con.close()


def test_schema_is_created_once_and_versioned(tmp_path):
    db = tmp_path / "w.duckdb"
    with writer(db) as con:
        assert current_version(con) == SCHEMA_VERSION
        assert ensure_schema(con) == SCHEMA_VERSION  # again: nothing to do
        migrations = con.execute("select count(*) from raw.schema_migrations").fetchone()[0]
        columns = con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' "
            "and table_name = 'readings' order by ordinal_position"
        ).fetchall()
    assert migrations == SCHEMA_VERSION
    assert [c[0] for c in columns] == ["household_id", "sensor", "reading_at", "value", "batch_id", "ingested_at"]


def test_a_newer_schema_is_refused(tmp_path):
    db = tmp_path / "w.duckdb"
    with writer(db) as con:
        con.execute("insert into raw.schema_migrations values (?, 'from the future', now()::timestamp)",
                    [SCHEMA_VERSION + 1])
    with pytest.raises(WarehouseError, match="newer than this code"):
        with writer(db):
            pass


def test_db_path_comes_from_argument_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv("HOMEWATCH_DB", raising=False)
    assert resolve_db_path() == connection.DEFAULT_DB_PATH
    monkeypatch.setenv("HOMEWATCH_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path() == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "arg.duckdb") == tmp_path / "arg.duckdb"


def test_dbt_profile_reads_the_warehouse_named_by_the_same_environment_variable(tmp_path):
    """dbt run as the README says (`cd dbt_project && dbt ... --profiles-dir .`) opens the file
    that HOMEWATCH_DB names, with HOMEWATCH_DUCKDB_MEMORY as DuckDB's memory limit."""
    import os

    from warehouse.transform import DBT_PROJECT_DIR, dbt_executable

    db = tmp_path / "elsewhere.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema raw; create table raw.marker as select 'm-7f3a' as note")
    con.close()
    env = {**os.environ, "HOMEWATCH_DB": str(db), "HOMEWATCH_DUCKDB_MEMORY": "1234MB", "DO_NOT_TRACK": "1"}
    shown = subprocess.run(
        [dbt_executable(), "show", "--profiles-dir", ".", "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs"), "--inline",
         "select note, current_setting('memory_limit') as memory_limit from raw.marker"],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "m-7f3a" in shown.stdout
    limit = duckdb.connect(config={"memory_limit": "1234MB"}).execute("select current_setting('memory_limit')").fetchone()[0]
    assert limit in shown.stdout, (limit, shown.stdout)


def test_reading_a_missing_warehouse_says_what_to_do(tmp_path):
    with pytest.raises(WarehouseError, match="homewatch simulate"):
        connect(tmp_path / "nothing.duckdb", read_only=True)


def test_a_busy_file_is_retried_then_reported(tmp_path):
    db = tmp_path / "busy.duckdb"
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(db)!r})
            print("holding", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError) as info:
            connect(db, wait_s=1.0)
        waited = time.monotonic() - started
        assert 0.9 <= waited < 10
        assert str(db) in str(info.value) and "locked by another process" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    connect(db, wait_s=5).close()  # free again once the holder is gone


def test_a_failed_landing_leaves_the_warehouse_as_it_was(tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    land_simulation(SMALL, db=db)
    before = checksum(db), _counts(db)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    import warehouse.land

    monkeypatch.setattr(warehouse.land, "_insert_events", boom)  # after the readings went in
    with pytest.raises(RuntimeError, match="disk full"):
        land_simulation(db=db, append_days=1)
    assert (checksum(db), _counts(db)) == before
    monkeypatch.undo()
    assert not land_simulation(db=db, append_days=1).skipped  # and the next run completes the work


def test_simulating_again_adds_nothing_or_only_the_new_days(tmp_path):
    db = tmp_path / "w.duckdb"
    land_simulation(SMALL, db=db)
    first = _counts(db)
    again = land_simulation(SMALL, db=db)
    assert again.skipped and "nothing to add" in again.message
    assert _counts(db) == first
    longer = land_simulation(SimConfig(households=2, days=3, seed=1), db=db)
    assert (longer.first_day, longer.days) == (2, 3)
    assert _counts(db)["readings"] > first["readings"]


def test_different_parameters_need_replace_which_keeps_file_data(tmp_path):
    db = tmp_path / "w.duckdb"
    land_simulation(SMALL, db=db)
    with writer(db) as con:
        con.execute("insert into raw.readings values ('flat', 'pressure', '2025-01-01', 1013, 'file-abc', now()::timestamp)")
        con.execute("insert into raw.batches values ('file-abc', 'file', 'x.csv', 'abc', 1, 0, 1, null, null, "
                    "now()::timestamp, now()::timestamp, 'loaded', null)")
    other = SimConfig(households=3, days=2, seed=9)
    with pytest.raises(WarehouseError, match="--replace"):
        land_simulation(other, db=db)
    land_simulation(other, db=db, replace=True)
    con = duckdb.connect(str(db), read_only=True)
    households = {r[0] for r in con.execute("select distinct household_id from raw.readings").fetchall()}
    seed = con.execute("select seed from raw.simulations").fetchone()[0]
    con.close()
    assert households == {"H0001", "H0002", "H0003", "flat"}
    assert seed == 9


def test_append_needs_an_existing_simulation(tmp_path):
    with pytest.raises(WarehouseError, match="nothing to append to"):
        land_simulation(db=tmp_path / "empty.duckdb", append_days=1)
