"""Quality and drift checks: each kind of bad data fails its own expectation, good data passes.

Every scenario starts from the tiny warehouse with a two-day batch appended (the "new
batch"), breaks one thing in it with SQL, and runs the whole check.
"""
from __future__ import annotations

import datetime as dt
import re
import shutil

import duckdb
import pytest

from expectations import config
from expectations.check import check_batch
from expectations.gate import BatchNotCheckedError, QualityGateError, require_passed
from scripts.cli import main
from warehouse.connection import reader


@pytest.fixture(scope="module")
def appended_db(tiny_db, tmp_path_factory):
    """TINY (14 days in one batch) plus a new two-day batch, unbuilt. Copy it before changing it."""
    from warehouse.land import land_simulation

    path = tmp_path_factory.mktemp("quality") / "appended.duckdb"
    shutil.copy(tiny_db, path)
    land_simulation(db=path, append_days=2)
    return path


def _new_batch(db) -> str:
    with reader(db) as con:
        return con.execute("select batch_id from raw.batches order by finished_at desc limit 1").fetchall()[0][0]


def _scenario(source, tmp_path, *statements: str):
    """A copy of `source` with SQL applied ($B is the newest batch), then checked."""
    db = tmp_path / "scenario.duckdb"
    shutil.copy(source, db)
    batch = _new_batch(db)
    con = duckdb.connect(str(db))
    for sql in statements:
        con.execute(sql.replace("$B", batch))
    con.close()
    return db, check_batch(db)


def _update(assignment: str, household: str, sensor: str, when: str = "true") -> str:
    """SQL changing one sensor of one household in the new batch."""
    return (f"update raw.readings set {assignment} where batch_id = '$B' and household_id = '{household}' "
            f"and sensor = '{sensor}' and {when}")


def _failed(result, severity: str | None = None) -> dict[str, object]:
    return {r.expectation: r for r in result.results if r.failed and severity in (None, r.severity)}


def _only_failure(result, name: str):
    """The single failed expectation of a check, which must be `name`."""
    failed = _failed(result)
    assert set(failed) == {name}, result.summary()
    return failed[name]


def test_a_good_batch_passes_every_expectation_and_every_result_is_stored(appended_db, tmp_path):
    db, result = _scenario(appended_db, tmp_path)
    assert result.passed and not _failed(result), result.summary()
    evaluated = {r.suite for r in result.results if r.success is not None}
    assert {"raw_readings", "raw_completeness", "raw_batch", "drift_sensors", "drift_households"} <= evaluated
    assert any(r.expectation == "distribution_close_to_reference:temperature" and r.success for r in result.results)
    with reader(db) as con:
        stored = con.execute("select count(*), count(distinct run_id), bool_and(batch_id = ?) "
                             "from dq.validation_results", [result.batch_id]).fetchall()[0]
        run = con.execute("select passed, n_expectations from dq.check_runs").fetchall()
        reference = {r[0] for r in con.execute("select sensor from dq.reference_stats where stat = 'histogram'").fetchall()}
        sensors = {r[0] for r in con.execute("select distinct sensor from raw.readings").fetchall()}
    assert stored == (len(result.results), 1, True)
    assert run == [(True, len(result.results))]
    # a reference histogram for every sensor of the warehouse but those drift leaves out (an alarm is an event)
    assert reference == sensors - set(config.DRIFT_EXCLUDED_SENSORS) and "fire_alarm" in sensors


def test_out_of_range_and_non_binary_values_fail_critically(appended_db, tmp_path):
    _, result = _scenario(appended_db, tmp_path,
                          _update("value = 250", "H0002", "temperature", "reading_at = '2025-01-16 12:00'"),
                          _update("value = 0.5", "H0001", "door", "reading_at = '2025-01-16 13:00'"))
    critical = _failed(result, config.CRITICAL)
    assert set(critical) == {"within_physical_range:temperature", "binary_values_0_or_1"}, result.summary()
    assert "H0002/temperature/2025-01-16 = 250" in critical["within_physical_range:temperature"].observed
    assert "H0001/door" in critical["binary_values_0_or_1"].observed
    assert not result.passed


def test_a_duplicated_batch_fails_and_the_original_still_passes(appended_db, tmp_path):
    db, result = _scenario(
        appended_db, tmp_path,
        "insert into raw.readings select household_id, sensor, reading_at, value, 'redelivered', "
        "ingested_at + interval 1 hour from raw.readings where batch_id = '$B'",
        "insert into raw.batches select 'redelivered', source, source_ref, content_hash, rows_loaded, rows_quarantined, "
        "households, min_reading_at, max_reading_at, started_at + interval 1 hour, finished_at + interval 1 hour, "
        "status, details from raw.batches where batch_id = '$B'")
    assert result.batch_id == "redelivered"
    assert _only_failure(result, "batch_is_new").observed.endswith("= 1")  # all of it was landed before
    original = check_batch(db, _new_batch(appended_db))
    assert original.passed and not _failed(original), original.summary()


def test_a_missing_day_for_one_household_warns_and_names_it(appended_db, tmp_path):
    _, result = _scenario(appended_db, tmp_path, "delete from raw.readings where batch_id = '$B' "
                          "and household_id = 'H0003' and reading_at::date = '2025-01-15'")
    failure = _only_failure(result, "household_day_complete")
    assert failure.severity == config.WARN and "H0003/2025-01-15 = 0" in failure.observed
    assert result.passed  # a home offline for a day is reported, not a reason to stop scoring


def test_a_future_timestamp_fails_critically_without_stretching_the_batch(appended_db, tmp_path):
    _, result = _scenario(appended_db, tmp_path, _update("reading_at = now()::timestamp + interval 2 day",
                                                         "H0004", "humidity", "reading_at = '2025-01-16 12:00'"))
    assert "H0004/humidity" in _only_failure(result, "not_from_future").observed


def test_a_household_whose_sensor_drifted_fails_the_household_drift_check(appended_db, tmp_path):
    # H0002's temperature sensor drifts linearly to +30 degC over the two days of the batch
    ramp = "value = value + 30 * (epoch(reading_at) - epoch('2025-01-15'::timestamp)) / 172800"
    _, result = _scenario(appended_db, tmp_path, _update(ramp, "H0002", "temperature"))
    failed = _failed(result)
    assert "household_mean_within_reference" in failed, result.summary()
    observed = failed["household_mean_within_reference"].observed
    assert re.match(r"1 of \d+ rows: H0002/temperature", observed), observed  # one home-sensor of them all
    assert not _failed(result, config.CRITICAL)  # drift of one home warns; it does not stop scoring


def test_a_stuck_sensor_warns(appended_db, tmp_path):
    six_hours = "reading_at between '2025-01-16 06:00' and '2025-01-16 12:00'"
    _, result = _scenario(appended_db, tmp_path, _update("value = 55.5", "H0001", "humidity", six_hours))
    assert "H0001/humidity/2025-01-16 = 360" in _only_failure(result, "not_stuck").observed
    assert result.passed


def test_a_gross_shift_is_critical_and_the_gate_refuses_it_unless_forced(appended_db, tmp_path):
    db, result = _scenario(appended_db, tmp_path, "update raw.readings set value = value * 1.8 + 32 "
                           "where batch_id = '$B' and sensor = 'temperature'")  # now in Fahrenheit
    assert "no_gross_shift:temperature" in _failed(result, config.CRITICAL), result.summary()
    with reader(db) as con:
        with pytest.raises(QualityGateError) as info:
            require_passed(con, result.batch_id)
        forced = require_passed(con, result.batch_id, force=True)
    assert "no_gross_shift:temperature" in str(info.value) and result.batch_id in str(info.value)
    assert not isinstance(info.value, BatchNotCheckedError)
    assert forced.forced and not forced.passed and "no_gross_shift:temperature" in forced.message


def test_the_gate_passes_a_clean_batch_and_says_when_a_batch_was_never_checked(appended_db, tmp_path):
    db = tmp_path / "w.duckdb"
    shutil.copy(appended_db, db)
    batch = _new_batch(db)
    with reader(db) as con:  # schema v1: no dq tables yet
        with pytest.raises(BatchNotCheckedError, match="never been quality-checked"):
            require_passed(con, batch)
        assert require_passed(con, batch, force=True).forced
    check_batch(db)
    with reader(db) as con:
        decision = require_passed(con, batch)
        with pytest.raises(BatchNotCheckedError):
            require_passed(con, "sim-11-d0000-d0014")  # the first batch was never checked
    assert decision.passed and decision.checked and not decision.forced


def test_features_and_flags_suite_on_built_tables(built_db, tmp_path):
    db = tmp_path / "built.duckdb"
    shutil.copy(built_db, db)
    good = check_batch(db)
    features = [r for r in good.results if r.suite == "features_flags"]
    assert len(features) >= 14 and all(r.success for r in features), good.summary()
    con = duckdb.connect(str(db))
    con.execute("update marts.fct_ml_features set humidity_z = null "
                "where household_id = 'H0001' and step_at = '2025-01-10 08:00'")
    con.execute("update intermediate.int_household_steps_pivoted set humidity_anomaly_score = 1.5 "
                "where household_id = 'H0002' and step_at = '2025-01-11 08:00'")
    con.execute("insert into intermediate.int_household_rules_flagged select * from "
                "intermediate.int_household_rules_flagged where household_id = 'H0003' and step_at = '2025-01-12 08:00'")
    con.close()
    bad = check_batch(db)
    assert set(_failed(bad, config.CRITICAL)) == {
        "no_nulls_after_warmup:fct_ml_features", "scores_in_0_1:int_household_steps_pivoted",
        "one_row_per_step:int_household_rules_flagged"}, bad.summary()
    null_rows = _failed(bad)["no_nulls_after_warmup:fct_ml_features"].details["failing_rows"]
    assert null_rows[0]["household_id"] == "H0001"


def test_missing_keys_and_timestamps_fail_critically(appended_db, tmp_path):
    """raw.readings declares them not null; the check still guards a warehouse that lost the constraint."""
    when = "reading_at = '2025-01-16 12:00'"
    _, result = _scenario(appended_db, tmp_path,
                          *(f"alter table raw.readings alter column {c} drop not null"
                            for c in ("household_id", "sensor", "reading_at")),
                          _update("household_id = null", "H0001", "humidity", when),
                          _update("sensor = null", "H0002", "humidity", when),
                          _update("reading_at = null", "H0003", "humidity", when))
    critical = _failed(result, config.CRITICAL)
    assert set(critical) == {"key_present:household_id", "key_present:sensor", "timestamp_present"}, result.summary()
    assert "H0002/2025-01-16" in critical["key_present:sensor"].observed
    assert "H0003/humidity" in critical["timestamp_present"].observed


def test_an_empty_batch_fails_critically(appended_db, tmp_path):
    """A landing recorded in raw.batches that delivered no readings: nothing to score."""
    db, result = _scenario(appended_db, tmp_path, """
        insert into raw.batches select 'file-empty', 'file', 'empty.csv', 'e0', 0, 0, 0, null, null,
            started_at + interval 1 hour, finished_at + interval 1 hour, 'loaded', null
        from raw.batches where batch_id = '$B'""")
    assert result.batch_id == "file-empty"
    assert _only_failure(result, "batch_not_empty").observed.endswith("= 0")
    assert not result.passed


def test_a_batch_missing_a_third_of_its_readings_fails_critically(appended_db, tmp_path):
    # readings lost at random, about 30% of them: every household-day keeps over half (no warning
    # there), the distributions stay as they were (no drift), but the batch as a whole is incomplete
    _, result = _scenario(appended_db, tmp_path, "delete from raw.readings where batch_id = '$B' "
                          "and hash(household_id, sensor, reading_at) % 10 < 3")
    failure = _only_failure(result, "batch_complete")
    assert failure.severity == config.CRITICAL and not result.passed
    assert 0.6 < float(failure.observed.rsplit("= ", 1)[1]) < config.BATCH_COMPLETENESS_MIN


def test_a_redelivery_that_changes_values_and_stale_readings_warn(appended_db, tmp_path):
    """A file landed today with readings of mid-January: 30 of H0001's temperatures again, each
    0.01 degC different (a corrected re-export), and a new home's readings of the same hours."""
    from warehouse.ingest import ingest_files

    db = tmp_path / "w.duckdb"
    shutil.copy(appended_db, db)
    with reader(db) as con:
        rows = con.execute("select reading_at, value from raw.readings where household_id = 'H0001' and sensor = "
                           "'temperature' and reading_at between '2025-01-16 10:00' and '2025-01-16 12:25'").fetchall()
    csv = tmp_path / "late.csv"
    csv.write_text("timestamp,household,sensor,value\n" + "".join(
        f"{t:%Y-%m-%dT%H:%M:%S},H0001,temperature,{v + 0.01:.3f}\n{t:%Y-%m-%dT%H:%M:%S},flat_1,temperature,{v}\n"
        f"{t:%Y-%m-%dT%H:%M:%S},flat_1,humidity,{45 + i / 10}\n" for i, (t, v) in enumerate(rows)))
    ingest_files([csv], db=db)
    result = check_batch(db)
    failed = _failed(result)
    assert set(failed) == {"no_conflicting_redelivery", "batch_fresh"}, result.summary()
    assert failed["no_conflicting_redelivery"].observed.endswith("= 30")
    assert result.passed  # both warn: a corrected reading or a late file is no reason to stop scoring


def test_sensor_and_household_drift_fail_their_own_checks(appended_db, tmp_path):
    """On the batch's newest day (the drift window): humidity reads 24 %RH high (a miscalibrated
    sensor), every motion sensor is dead, and H0002's thermometer swings by +-30 degC."""
    newest_day = "reading_at >= '2025-01-16'"
    _, result = _scenario(
        appended_db, tmp_path,
        f"update raw.readings set value = least(value + 24, 99) where batch_id = '$B' and sensor = 'humidity' and {newest_day}",
        f"update raw.readings set value = 0 where batch_id = '$B' and sensor = 'motion' and {newest_day}",
        _update("value = value + case when minute(reading_at) % 10 = 0 then 30 else -30 end", "H0002", "temperature",
                newest_day))
    failed = _failed(result)
    assert {"mean_within_reference:humidity", "distribution_close_to_reference:humidity",
            "spread_within_reference:motion", "spread_within_reference:temperature",
            "quantiles_within_reference:temperature", "household_spread_within_reference"} <= set(failed), result.summary()
    assert "H0002/temperature" in failed["household_spread_within_reference"].observed
    # only the broken sensors drift; all of it warns (a shift within GROSS_SHIFT_STDS blocks nothing)
    assert {name.split(":")[-1] for name in failed if ":" in name} == {"humidity", "motion", "temperature"}
    assert result.passed and "mean_within_reference:temperature" not in failed


def test_what_dbt_must_guarantee_fails_critically_when_broken(built_db, tmp_path):
    """Staging lost its de-duplication (a reading landed twice stays twice), a step is missing
    from two household grids, and a day of one home is missing from the sensor flags."""
    db = tmp_path / "built.duckdb"
    shutil.copy(built_db, db)
    con = duckdb.connect(str(db))
    con.execute("create or replace view staging.stg_raw__readings as select * from raw.readings")
    con.execute("insert into raw.readings select household_id, sensor, reading_at, value + 1, batch_id, "
                "ingested_at + interval 1 hour from raw.readings where household_id = 'H0001' "
                "and sensor = 'temperature' and reading_at = '2025-01-10 08:00'")
    con.execute("delete from intermediate.int_household_rules_flagged where household_id = 'H0002' "
                "and step_at = '2025-01-11 08:00'")
    con.execute("delete from marts.fct_ml_features where household_id = 'H0003' and step_at = '2025-01-12 09:00'")
    con.execute("delete from intermediate.int_household_steps_pivoted where household_id = 'H0004' "
                "and step_at::date = '2025-01-13'")
    con.close()
    result = check_batch(db)
    failed = _failed(result, config.CRITICAL)
    assert set(failed) == {"staged_readings_unique", "no_missing_steps:int_household_rules_flagged",
                           "no_missing_steps:fct_ml_features", "rows_present:int_household_steps_pivoted"}, result.summary()
    assert failed["staged_readings_unique"].observed.startswith("1 of") and "H0001/2025-01-10 = 1" in failed["staged_readings_unique"].observed
    assert "H0002/2025-01-11 = 1" in failed["no_missing_steps:int_household_rules_flagged"].observed
    assert "H0003/2025-01-12 = 1" in failed["no_missing_steps:fct_ml_features"].observed
    assert "H0004/2025-01-13" in failed["rows_present:int_household_steps_pivoted"].observed


PREDICTIONS_DDL = """
create schema if not exists ml;
create or replace table ml.predictions (
    run_id varchar, household_id varchar, step_at timestamp, model_version varchar, predicted_class integer,
    p_normal double, p_temperature_failure double, p_humidity_anomaly double, p_fridge_failure double,
    p_door_at_night double, p_fire double, confidence double, scored_at timestamp);
insert into ml.predictions (run_id, household_id, step_at, model_version, predicted_class, p_normal,
    p_temperature_failure, p_humidity_anomaly, p_fridge_failure, p_door_at_night, p_fire, confidence, scored_at)
select 'score-1', household_id, step_at, 'v1', 0, 0.9, 0.02, 0.02, 0.02, 0.02, 0.02, 0.9, now()::timestamp
from (select distinct household_id, time_bucket(interval 5 minute, reading_at) as step_at
      from raw.readings where batch_id = '$B');
"""


def test_predictions_suite_runs_when_the_table_exists(appended_db, tmp_path):
    db, good = _scenario(appended_db, tmp_path, PREDICTIONS_DDL)
    predictions = [r for r in good.results if r.suite == "predictions"]
    assert len(predictions) == 7 and all(r.success for r in predictions), good.summary()
    con = duckdb.connect(str(db))
    con.execute("update ml.predictions set p_fire = 1.2 where household_id = 'H0001' and step_at = '2025-01-15 10:00'")
    con.execute("update ml.predictions set predicted_class = 7 where household_id = 'H0002' and step_at = '2025-01-15 10:00'")
    con.execute("insert into ml.predictions select * from ml.predictions "
                "where household_id = 'H0003' and step_at = '2025-01-15 10:00'")
    con.execute("update ml.predictions set confidence = null where household_id = 'H0004' and step_at = '2025-01-15 11:00'")
    con.close()
    bad = check_batch(db)
    assert set(_failed(bad, config.CRITICAL)) == {
        "probabilities_in_0_1", "probabilities_sum_to_1", "class_in_taxonomy", "one_prediction_per_step",
        "no_nulls"}, bad.summary()
    assert "H0004/2025-01-15/" in _failed(bad)["no_nulls"].observed


def test_check_command_exit_codes_and_report(appended_db, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOMEWATCH_REPORTS_DIR", str(tmp_path / "reports"))
    db = tmp_path / "w.duckdb"
    shutil.copy(appended_db, db)
    report = tmp_path / "quality.html"
    assert main(["check", "--db", str(db), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and report.read_text().startswith("<!doctype html>")
    batch = _new_batch(db)
    con = duckdb.connect(str(db))
    con.execute("update raw.readings set value = -99 where batch_id = ? and sensor = 'humidity'", [batch])
    con.close()
    assert main(["check", "--db", str(db), "--report", str(report)]) == 1
    assert "CRITICAL" in capsys.readouterr().out and "FAILED" in report.read_text()
    assert main(["check", "--batch", "no-such-batch", "--db", str(db)]) == 2
    assert "no batch 'no-such-batch'" in capsys.readouterr().err


def test_the_batch_clock_of_a_simulation_is_its_simulated_end(appended_db):
    from expectations.batches import load_batch

    with reader(appended_db) as con:
        batch = load_batch(con)
    assert batch.clock_at == dt.datetime(2025, 1, 17)
    assert batch.last_reading_at == dt.datetime(2025, 1, 16, 23, 55)
