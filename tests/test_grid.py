"""The grid: bounded by the data (a far-off timestamp is a break, not millions of steps), on the
step the warehouse recorded (any step that divides an hour, seconds included), and a batch whose
raw data fails a critical check is not built."""
from __future__ import annotations

import datetime as dt
import time

import duckdb
import pytest

from scripts.cli import main
from tests.conftest import query as _q
from tests.test_dbt import INCREMENTAL_TABLES, _fingerprint
from warehouse.grid import GridStepError, parse_step
from warehouse.ingest import ingest_files
from warehouse.transform import build

T0 = dt.datetime(2025, 1, 1)
PAD = 288  # context_hours (24) of 5-minute steps: how far a segment runs on before a break


def _csv(path, start: dt.datetime, n: int, step_s: int = 300, skip=range(0), temperature=None):
    """A wide export of one home: temperature and humidity every step_s seconds, n rows, minus `skip`."""
    rows = []
    for i in range(n):
        if i in skip:
            continue
        t = start + dt.timedelta(seconds=step_s * i)
        temp = temperature if temperature is not None else 20 + (i % 7) * 0.1
        rows.append(f"{t:%Y-%m-%d %H:%M:%S},{temp:.1f},{50 + i % 5}\n")
    path.write_text("timestamp,temperature,humidity\n" + "".join(rows))
    return path


def _land_directly(db, batch_id: str, rows: list[tuple]) -> None:
    """Readings that reach raw.* by another path than ingest (which would quarantine far-off
    dates): the grid must hold on its own. rows: (household, sensor, reading_at, value)."""
    con = duckdb.connect(str(db))
    try:
        now = dt.datetime(2025, 3, 1)
        con.executemany("insert into raw.readings values (?, ?, ?, ?, ?, ?)",
                        [(h, s, t, v, batch_id, now) for h, s, t, v in rows])
        times = [r[2] for r in rows]
        con.execute("insert into raw.batches values (?, 'file', 'elsewhere', null, ?, 0, 1, ?, ?, ?, ?, 'loaded', null)",
                    [batch_id, len(rows), min(times), max(times), now, now])
    finally:
        con.close()


def _fingerprints(db) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: _fingerprint(con, t) for t in INCREMENTAL_TABLES}
    finally:
        con.close()


# --- the step: parsing ------------------------------------------------------------------------


def test_a_step_takes_a_unit_and_must_divide_an_hour():
    assert [parse_step(t) for t in ("10s", "5min", "1h", "30 seconds", "1min")] == [10, 300, 3600, 30, 60]
    for text, reason in [("0s", "longer than zero"), ("0", "longer than zero"), ("-1", "longer than zero"), ("-5min", "longer than zero"), ("abc", "not a duration"),
                         ("5", "has no unit"), ("0.5s", "whole number of seconds"), ("7min", "does not divide an hour"),
                         ("2h", "longer than an hour"), ("5 parsecs", "unknown unit")]:
        with pytest.raises(GridStepError, match=reason):
            parse_step(text)


@pytest.mark.parametrize("argv", [["--step", "0"], ["--step", "0s"], ["--step-minutes", "0"],
                                  ["--step-minutes", "-5"], ["--step", "five"], ["--step", "7min"]])
def test_the_build_command_refuses_an_invalid_step(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--db", str(tmp_path / "w.duckdb"), *argv])
    assert exit_info.value.code == 2
    assert "grid step" in capsys.readouterr().err
    assert not (tmp_path / "w.duckdb").exists()


# --- bounded grids ----------------------------------------------------------------------------


def test_far_off_readings_are_breaks_in_the_grid_and_incremental_equals_full(tmp_path):
    """A 2015 reading in a 2025 file, a home back after 19 days, then one reading dated 9999:
    each long silence is a break (the grid runs on for context_hours, then resumes at the next
    reading), short gaps are missing steps as before, the build takes seconds, and the
    incremental builds that took the breaks in equal a full refresh."""
    db = tmp_path / "w.duckdb"
    # 600 steps from 2025-01-01; 12 steps (an hour) missing in the middle: a short gap
    ingest_files([_csv(tmp_path / "jan.csv", T0, 600, skip=range(300, 312))], db=db, household="h1")
    _land_directly(db, "b-2015", [("h1", "temperature", dt.datetime(2015, 6, 1, 12, 0), 99.0)])
    started = time.monotonic()
    build(db=db)
    (rows,), = _q(db, "select count(*) from intermediate.int_readings_gridded where sensor = 'temperature'")
    assert rows == 1 + PAD + 600     # the 2015 step, its run-on, then January (its gap included)
    missing = _q(db, "select count(*) from intermediate.int_readings_gridded where sensor = 'temperature' "
                     "and is_missing and step_at between ? and ?", [T0, T0 + dt.timedelta(minutes=5 * 599)])
    assert missing == [(12,)]
    # no window reaches across the break: January's first 1 h mean is its own first value, not 2015's 99
    (mean_1h,), = _q(db, "select mean_1h from intermediate.int_sensor_features_rolled where sensor = 'temperature' "
                         "and step_at = ?", [T0])
    assert mean_1h == pytest.approx(20.0)

    # later batches: the home comes back 19 days later, then a reading dated 9999 arrives
    back = T0 + dt.timedelta(days=21)
    ingest_files([_csv(tmp_path / "back.csv", back, 100)], db=db, household="h1")
    _land_directly(db, "b-9999", [("h1", "temperature", dt.datetime(9999, 12, 31, 23, 55), 21.0)])
    build(db=db)
    seconds = time.monotonic() - started
    (rows, last), = _q(db, "select count(*), max(step_at) from intermediate.int_readings_gridded "
                           "where sensor = 'temperature'")
    assert rows == 1 + PAD + 600 + PAD + 100 + PAD + 1 and last == dt.datetime(9999, 12, 31, 23, 55)
    assert seconds < 240   # two builds of a few thousand rows (before: until the disk was full)
    incremental = _fingerprints(db)
    build(db=db, full_refresh=True)
    assert _fingerprints(db) == incremental

    # a warehouse built before steps were recorded: its grid tells the step
    from warehouse import grid_step
    con = duckdb.connect(str(db))
    con.execute("delete from ops.grid")
    assert grid_step(con) == 300
    con.close()


# --- the recorded step ------------------------------------------------------------------------


def test_ten_second_readings_build_on_a_recorded_10_s_grid(tmp_path, capsys):
    """20 minutes of 10-second readings on a 10 s grid: 120 steps, rolling features over whole
    windows of 10 s steps; the step is recorded, reused by a plain build and by `batch`, and a
    different one is refused without --full-refresh and recorded with it."""
    db = tmp_path / "w.duckdb"
    start = dt.datetime(2025, 5, 1, 12, 0)
    ingest_files([_csv(tmp_path / "fast.csv", start, 120, step_s=10)], db=db, household="plant")
    assert main(["build", "--db", str(db), "--step", "10s"]) == 0
    assert _q(db, "select step_seconds, status from ops.grid") == [(10, "built")]
    (rows, steps, gaps, mean_1h, std_1h, nulls), = _q(db, """
        select count(*), count(distinct step_at), count(*) filter (where is_missing),
            max(mean_1h) filter (where step_at = (select max(step_at) from intermediate.int_sensor_features_rolled)),
            max(std_1h) filter (where step_at = (select max(step_at) from intermediate.int_sensor_features_rolled)),
            count(*) filter (where step_at > ? and (mean_1h is null or std_1h is null or mean_3h is null))
        from intermediate.int_sensor_features_rolled where sensor = 'temperature'""", [start])
    values = [20 + (i % 7) * 0.1 for i in range(120)]
    assert (rows, steps, gaps, nulls) == (120, 120, 0, 0)
    assert mean_1h == pytest.approx(sum(values) / 120)   # the 1 h window holds all 120 steps of 10 s
    assert std_1h > 0

    from warehouse import grid_step
    con = duckdb.connect(str(db), read_only=True)
    assert grid_step(con) == 10
    con.close()

    # dbt run by hand with another step refuses too (macros/check_grid_step.sql)
    from warehouse.transform import TransformError, run_dbt
    with pytest.raises(TransformError, match="built on 10-second steps .* add --full-refresh"):
        run_dbt(["build", "--select", "int_build_window"], db=db, dbt_vars={"step_seconds": "5min"})

    # a plain build, and the batch job, build new data on the recorded 10 s grid
    ingest_files([_csv(tmp_path / "more.csv", start + dt.timedelta(minutes=20), 60, step_s=10)], db=db,
                 household="plant")
    assert main(["batch", "--db", str(db)]) == 0
    (rows, steps), = _q(db, "select count(*), count(distinct step_at) from intermediate.int_readings_gridded "
                            "where sensor = 'temperature'")
    assert rows == steps == 180
    assert _q(db, "select status, step from ops.job_runs") == [("succeeded", "done")]
    capsys.readouterr()

    before = _fingerprints(db)
    assert main(["build", "--db", str(db), "--step", "5min"]) == 2
    err = capsys.readouterr().err
    assert "built on 10 s steps" in err and "add --full-refresh" in err
    assert _fingerprints(db) == before and _q(db, "select step_seconds from ops.grid") == [(10,)]

    assert main(["build", "--db", str(db), "--step", "1min", "--full-refresh"]) == 0
    assert "grid step 10 s -> 1 min" in capsys.readouterr().err
    assert _q(db, "select step_seconds, status from ops.grid") == [(60, "built")]
    assert _q(db, "select count(*) from intermediate.int_readings_gridded where sensor = 'temperature'") == [(30,)]
    assert main(["build", "--db", str(db)]) == 0      # no step: the recorded 1 min, nothing to rebuild
    assert _q(db, "select count(*) from intermediate.int_readings_gridded where sensor = 'temperature'") == [(30,)]


# --- raw checks before the build --------------------------------------------------------------


def test_a_batch_whose_raw_data_fails_a_critical_check_is_not_built(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    ingest_files([_csv(tmp_path / "hot.csv", T0, 48, temperature=500.0)], db=db, household="h1")
    assert main(["batch", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "a critical check of the raw data failed, so nothing was built" in err
    assert "within_physical_range:temperature" in err
    assert _q(db, "select count(*) from information_schema.tables where table_schema in ('intermediate', 'marts')") \
        == [(0,)]
    (status, step, message), = _q(db, "select status, step, message from ops.job_runs")
    assert (status, step) == ("quality_failed", "raw_check") and "within_physical_range:temperature" in message
    (passed, suites), = _q(db, "select r.passed, list(distinct v.suite order by v.suite) from dq.check_runs r "
                               "join dq.validation_results v using (run_id) group by all")
    assert not passed and "features_flags" not in suites and "raw_readings" in suites


def test_completeness_per_day_is_bounded_by_the_days_with_readings(tmp_path):
    """A 2015 reading in a 2025 file: the days frame holds the days with readings and one row for
    the silent run between them, not 3,500 days per sensor; the batch as a whole is as
    incomplete as the span says (a critical failure the raw check stops on before the build)."""
    from expectations import profiles
    from expectations.batches import load_batch

    db = tmp_path / "w.duckdb"
    ingest_files([_csv(tmp_path / "jan.csv", T0, 576)], db=db, household="h1")  # two whole days
    con = duckdb.connect(str(db))
    batch_id = con.execute("select batch_id from raw.batches").fetchone()[0]
    con.execute("insert into raw.readings select household_id, sensor, timestamp '2015-06-01 12:00', value, batch_id, "
                "ingested_at from raw.readings limit 1")
    batch = load_batch(con, batch_id)
    days = profiles.days_profile(con, batch)
    summary = profiles.batch_summary(con, batch, days, profiles.readings_profile(con, batch))
    con.close()
    silent_days = (T0.date() - dt.date(2015, 6, 2)).days
    assert len(days) == 4                                # 2015-06-01, the silent run, 2025-01-01 and -02
    silent = days[days.n_received == 0]
    assert [d.date() for d in silent.day] == [dt.date(2015, 6, 2)]
    assert silent.n_expected.item() == silent_days * 2 * 288   # two sensors, 288 readings a day expected
    assert list(days.completeness[-2:]) == [1.0, 1.0]
    assert summary.completeness.item() < 0.01
