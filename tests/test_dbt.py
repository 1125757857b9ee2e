"""The dbt project end to end: every layer builds, incremental equals full refresh, real files work."""
from __future__ import annotations

import math
import re

import shutil

import duckdb
import pytest

from simulator.config import SimConfig
from tests.conftest import TINY
from warehouse.ingest import ingest_files
from warehouse.land import land_simulation
from warehouse.project_vars import dbt_var
from warehouse.transform import TransformError, build

# The tables an incremental build must leave exactly as a full refresh of the same data would:
# every incremental model, and the tables rebuilt whole from them (int_sensor_incidents,
# fct_incidents, fct_anomaly_events), which read the incremental ones' rows.
INCREMENTAL_TABLES = [
    "intermediate.int_readings_bucketed_to_steps",
    "intermediate.int_readings_missing_steps",    # with the bucketed readings, the grid (a view)
    "intermediate.int_sensor_features_rolled",
    "intermediate.int_sensor_hours",
    "intermediate.int_baselines_hour_of_day",
    "intermediate.int_household_steps_pivoted",
    "intermediate.int_household_shower_patterns",
    "intermediate.int_household_rules_flagged",
    "intermediate.int_rule_steps_flagged",
    "intermediate.int_anomaly_runs",
    "intermediate.int_sensor_ranges",
    "intermediate.int_sensor_deviations",
    "intermediate.int_sensor_score_hours",
    "intermediate.int_sensor_scores",
    "intermediate.int_sensor_incident_steps",
    "intermediate.int_sensor_incidents",
    "marts.fct_incidents",
    "marts.int_steps_labelled",
    "marts.fct_ml_features",
    "marts.fct_anomaly_events",
]


def _query(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _fingerprint(con, table: str) -> tuple:
    """Row count and an order-independent hash of every row, doubles rounded to 6 significant digits
    (sums over windows may differ in the last bits between two equally correct builds)."""
    schema, name = table.split(".")
    cols = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position", [schema, name]
    ).fetchall()
    # Six significant digits: a window sum's last-bit noise (up to ~1e-14 once averaged again, as
    # the calibrated score's sustained channel does) then flips a rounding about once in 1e8
    # values, where nine flipped one of a small build's ~50,000 now and then; significant, not
    # decimal, so tail probabilities of 1e-7 keep their digits. The factor moves exact
    # boundaries (30.7431640625, a mean of quantised readings) off the grid.
    sig = "case when {c} is null or {c} = 0 or isinf({c}) or isnan({c}) then {c} else round({c} * (1 + 1e-12), (5 - floor(log10(abs({c}))))::int) end"
    exprs = [sig.format(c=c) if t == "DOUBLE" else f"{c}::varchar" for c, t in cols
             if c not in ("processed_at",)]
    return con.execute(f"select count(*), bit_xor(hash({', '.join(exprs)})) from {table}").fetchone()


def _incremental_then_full_refresh(db) -> tuple[dict, dict]:
    """Fingerprints of every incremental table as the last build left them, then after a
    --full-refresh build of the same data."""
    con = duckdb.connect(str(db), read_only=True)
    incremental = {t: _fingerprint(con, t) for t in INCREMENTAL_TABLES}
    con.close()
    build(db=db, full_refresh=True)
    con = duckdb.connect(str(db), read_only=True)
    full = {t: _fingerprint(con, t) for t in INCREMENTAL_TABLES}
    con.close()
    return incremental, full


def _declared_unit_tests() -> set[str]:
    """`model::name` of every unit test declared in the project's YAML files."""
    import yaml

    from warehouse.transform import DBT_PROJECT_DIR

    declared = set()
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests") or []:
            declared.add(f"{test['model']}::{test['name']}")
    return declared


def test_dbt_unit_tests_pass(built_db, tmp_path):
    """Every unit test declared in the YAML ran and passed (a failing one raises TransformError)."""
    from warehouse.transform import unit_test

    db = tmp_path / "unit.duckdb"
    shutil.copy(built_db, db)
    output = unit_test(db=db)
    passed = {line.split(" PASS ")[1].split()[0] for line in output.splitlines() if " PASS " in line and "::" in line}
    declared = _declared_unit_tests()
    assert "int_steps_labelled::hard_negatives_and_faults_stay_normal_and_homes_without_ground_truth_are_left_out" in declared
    assert passed == declared


def test_a_rolling_window_beyond_the_context_stops_the_build(tmp_path):
    """An incremental build reads context_hours of history before the steps it recomputes, so a
    rolling window that reaches further (here the medium one, which mean_3h_before spans twice:
    2 x 13 h > 24 h) must stop the build, naming the var, instead of giving other values than a
    full refresh."""
    from warehouse.transform import run_dbt

    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    context = dbt_var("context_hours")
    medium = context / 2 + 1
    with pytest.raises(TransformError) as failure:
        run_dbt(["parse"], db=db, dbt_vars={"rolling_medium_hours": medium})
    assert "rolling_medium_hours" in str(failure.value) and "context_hours" in str(failure.value)


def test_every_layer_is_built_on_the_regular_grid(built_db):
    steps = TINY.days * TINY.steps_per_day
    (grid_rows, households), = _query(built_db, "select count(*), count(distinct household_id) "
                                                "from intermediate.int_household_steps_pivoted")
    assert households == TINY.households
    assert grid_rows == households * steps  # one row per household per step, gaps included
    (ml_rows,), = _query(built_db, "select count(*) from marts.fct_ml_features")
    assert ml_rows == grid_rows
    classes = {r[0] for r in _query(built_db, "select distinct anomaly_class from marts.fct_anomaly_events "
                                              "where event_kind = 'anomaly'")}
    assert classes and classes <= {1, 2, 3, 4, 5}
    (processed,), = _query(built_db, "select count(*) from intermediate.int_batches_processed")
    assert processed == 1


def test_the_pivot_carries_the_generic_flags_of_the_view(built_db):
    """int_household_steps_pivoted computes the known sensors' flags itself (macros/generic_flags.sql),
    one sensor at a time, within an incremental window; int_sensor_steps_flagged, the view over every
    sensor, computes them over all history. Both must say the same of every step."""
    columns = [("temperature", "anomaly_score"), ("humidity", "health_score"), ("fridge_power", "anomaly_score"),
               ("temperature", "max_deviation_sustained"), ("humidity", "high_share"), ("motion", "expected_mean")]
    for sensor, column in columns:
        (steps, flagged, differ), = _query(built_db, f"""
            select count(*), count(*) filter (where v.{column} > 0),
                   count(*) filter (where v.{column} is distinct from p.{sensor}_{column}
                                    and not abs(v.{column} - p.{sensor}_{column}) < 1e-12)
            from intermediate.int_sensor_steps_flagged v
            join intermediate.int_household_steps_pivoted p using (household_id, step_at)
            where v.sensor = '{sensor}'""")
        assert steps == TINY.households * TINY.days * TINY.steps_per_day, (sensor, column)
        assert flagged > 0 and differ == 0, (sensor, column, flagged, differ)


def test_ml_features_have_no_nulls(built_db):
    con = duckdb.connect(str(built_db), read_only=True)
    cols = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'fct_ml_features'").fetchall()]
    nulls = con.execute("select " + ", ".join(f"count(*) - count({c})" for c in cols)
                        + " from marts.fct_ml_features").fetchone()
    con.close()
    assert dict(zip(cols, nulls)) == dict.fromkeys(cols, 0)


def test_ml_features_carry_raw_levels_and_sensor_health(built_db):
    # the levels and each sensor's own health come next to the baseline-relative z-scores:
    # a stuck fridge meter (constant, health 1, value > 0) must look unlike a power cut
    rows = _query(built_db, """
        select f.temperature_c_10, g.temperature, f.fridge_power_log_w, g.fridge_power,
               f.fridge_power_health, g.fridge_power_health_score,
               f.fridge_power_days_since_change, coalesce(g.fridge_power_minutes_since_change, 0)
        from marts.fct_ml_features f
        join intermediate.int_household_steps_pivoted g using (household_id, step_at)
        where not g.temperature_is_missing and not g.fridge_power_is_missing""")
    assert len(rows) > 1000
    for temp_10, temp, log_w, watts, health, score, days, minutes in rows[::97]:
        assert temp_10 == pytest.approx(temp / 10.0)
        assert log_w == pytest.approx(math.log1p(max(watts, 0.0)))
        assert health == score
        assert days == pytest.approx(minutes / 1440.0)
    # the health score is that of the fridge sensor itself, not the worst of all sensors
    (differs,), = _query(built_db, "select count(*) from marts.fct_ml_features "
                                   "where fridge_power_health <> generic_health_score")
    assert differs > 0


def test_ml_features_remember_the_cold_spell(built_db):
    # beyond the model's hour: how long the room has been cold and whether a fall began it,
    # the rules' columns scaled; a heating failure shows them, a normal step almost never
    (rows, cold, since, wrong), = _query(built_db, """
        select count(*), count(*) filter (where r.temperature_cold_minutes > 0),
               count(*) filter (where r.is_cold_since_fall),
               count(*) filter (where abs(f.temperature_cold_days - r.temperature_cold_minutes / 1440.0) > 1e-9
                                 or f.temperature_cold_since_fall <> case when r.is_cold_since_fall then 1.0 else 0.0 end)
        from marts.fct_ml_features f
        join intermediate.int_household_rules_flagged r using (household_id, step_at)""")
    assert rows > 1000 and cold > 0 and since > 0      # every row checked, some of them cold
    assert wrong == 0
    # (cold is against the baseline: the tiny warehouse's first days have none)
    by_label = dict(_query(built_db, """
        select l.label_class, avg(f.temperature_cold_since_fall)
        from marts.fct_ml_features f
        join marts.int_steps_labelled l using (household_id, step_at)
        where l.label_class in (0, 1) and f.temperature_no_baseline = 0
        group by l.label_class"""))
    assert by_label[1] > 0.1 and by_label[0] < 0.02, by_label


def test_rules_find_the_injected_anomalies(built_db):
    # Event-level: most injected anomalies that end inside the data overlap a rule event of their class.
    (found, total), = _query(built_db, """
        select count(*) filter (where hit), count(*) from (
            select exists (
                select 1 from marts.fct_anomaly_events a
                where a.household_id = e.household_id and a.anomaly_class = e.anomaly_class
                  and a.start_at < e.end_at and e.start_at < a.end_at
            ) as hit
            from staging.stg_raw__injected_events e
            where e.event_kind = 'anomaly'
              and e.end_at <= (select max(step_at) from marts.fct_ml_features)
              and e.start_at >= (select min(step_at) + interval 3 day from marts.fct_ml_features)
        )""")
    assert total >= 8 and found / total >= 0.7


def test_incremental_build_matches_a_full_refresh(tmp_path):
    db = tmp_path / "w.duckdb"
    land_simulation(SimConfig(households=3, days=5, seed=21), db=db)
    # a 2-day shower history: the shower patterns' incremental read (the history before the
    # recomputed days) starts inside the data, not before it
    history = {"shower_history_days": 2}
    build(db=db, dbt_vars=history)
    land_simulation(db=db, append_days=1)
    build(db=db, dbt_vars=history)
    con = duckdb.connect(str(db), read_only=True)
    window = con.execute("select count(*), min(recompute_from) from intermediate.int_build_window").fetchone()
    incremental = {t: _fingerprint(con, t) for t in INCREMENTAL_TABLES}
    con.close()
    assert window[0] == 1  # only the appended batch was taken in
    assert str(window[1]) == "2025-01-05 23:55:00"  # from one step before the new day
    build(db=db, full_refresh=True, dbt_vars=history)
    con = duckdb.connect(str(db), read_only=True)
    full = {t: _fingerprint(con, t) for t in INCREMENTAL_TABLES}
    con.close()
    assert incremental == full


def test_the_pivot_joined_in_stages_has_the_rows_of_one_join_per_sensor(built_db, tmp_path):
    """pivot_stage_sensors only says how many sensors' hash tables are alive at once: the pivot
    rebuilt one sensor per stage has the same columns and rows as the default build's."""
    db = tmp_path / "stages.duckdb"
    shutil.copy(built_db, db)
    table = "intermediate.int_household_steps_pivoted"
    default = dbt_var("pivot_stage_sensors")
    assert 1 < default < len(dbt_var("known_sensors"))  # the default build joined in several stages
    con = duckdb.connect(str(db), read_only=True)
    columns_before = con.execute(f"select * from {table} limit 0").description
    before = _fingerprint(con, table)
    con.close()
    build(db=db, select="int_household_steps_pivoted", full_refresh=True, dbt_vars={"pivot_stage_sensors": 1})
    con = duckdb.connect(str(db), read_only=True)
    columns_after = con.execute(f"select * from {table} limit 0").description
    after = _fingerprint(con, table)
    con.close()
    assert [c[0] for c in columns_after] == [c[0] for c in columns_before]
    assert before[0] > 0 and after == before


def test_a_build_with_nothing_new_changes_nothing(built_db, tmp_path):
    db = tmp_path / "again.duckdb"
    shutil.copy(built_db, db)
    con = duckdb.connect(str(db), read_only=True)
    before = {t: _fingerprint(con, t) for t in INCREMENTAL_TABLES}
    con.close()
    build(db=db)
    con = duckdb.connect(str(db), read_only=True)
    after = {t: _fingerprint(con, t) for t in INCREMENTAL_TABLES}
    (window,), = con.execute("select count(*) from intermediate.int_build_window").fetchall()
    con.close()
    assert window == 0 and after == before


def test_a_derived_table_with_a_row_too_many_or_too_few_fails_its_row_count_test(built_db, tmp_path):
    """The features, deviations and scores tables are proven one row per parent row by two counts
    (tests/generic/one_row_per_parent_row.sql), not by a group by over every key: a duplicated row
    (a join that fans out) and a lost row (a filter that drops one) each fail."""
    from warehouse.transform import run_dbt

    db = tmp_path / "broken.duckdb"
    shutil.copy(built_db, db)
    run_dbt(["test", "--select", "test_name:one_row_per_parent_row"], db=db)  # all three pass as built
    con = duckdb.connect(str(db))
    # a binary sensor's row: the deviations (continuous sensors' rows) still match their parent
    con.execute("insert into intermediate.int_sensor_features_rolled "
                "select * from intermediate.int_sensor_features_rolled where sensor_kind = 'binary' limit 1")
    con.execute("delete from intermediate.int_sensor_scores where rowid = (select min(rowid) from intermediate.int_sensor_scores)")
    con.close()
    with pytest.raises(TransformError) as info:
        run_dbt(["test", "--select", "test_name:one_row_per_parent_row"], db=db)
    failed = set(re.findall(r"FAIL \d+ (int_\w+)", str(info.value)))
    assert failed == {"int_sensor_features_rolled_one_row_per_grid_row", "int_sensor_scores_one_row_per_deviation_row"}, str(info.value)


def test_a_missing_step_where_a_reading_is_or_twice_fails_the_grids_key_tests(built_db, tmp_path):
    """The grid view's key is unique through its two parts (tests/generic/disjoint_keys.sql): a
    missing step at a step that has a reading fails the disjoint test, a missing step stored
    twice fails the missing steps' own key test, and neither is a group by over the grid."""
    from warehouse.transform import run_dbt

    db = tmp_path / "broken.duckdb"
    shutil.copy(built_db, db)
    select = ["test", "--select", "int_readings_missing_steps"]
    run_dbt(select, db=db)                                  # they pass as built
    con = duckdb.connect(str(db))
    (n,), = con.execute("select count(*) from intermediate.int_readings_missing_steps").fetchall()
    assert n > 0                                            # the demo's homes have gaps to test with
    # a reading's step, as a missing one (the first steps of the build window: rows a test reads)
    con.execute("insert into intermediate.int_readings_missing_steps by name "
                "select household_id, sensor, sensor_kind, step_at, null::double as value, null::double as observed_value, "
                "0::bigint as n_readings, true as is_missing, false as is_filled, 5::bigint as minutes_since_reading "
                "from intermediate.int_readings_bucketed_to_steps order by step_at desc limit 1")
    con.execute("insert into intermediate.int_readings_missing_steps "
                "select * from intermediate.int_readings_missing_steps order by step_at desc limit 1 offset 1")
    con.close()
    with pytest.raises(TransformError) as info:
        run_dbt(select, db=db)
    failed = set(re.findall(r"of \d+ FAIL \d+ (\w+)", str(info.value)))
    assert any(f.startswith("unique_combination_int_readings_missing_steps") for f in failed), str(info.value)
    assert "int_readings_missing_steps_never_where_a_reading_is" in failed, str(info.value)
    assert len(failed) == 2, str(info.value)


def test_a_generic_flag_out_of_0_1_in_the_pivot_fails_its_test(built_db, tmp_path):
    """The pivot's flags columns share one range test (tests/generic/columns_between.sql)."""
    from warehouse.transform import run_dbt

    db = tmp_path / "broken.duckdb"
    shutil.copy(built_db, db)
    select = ["test", "--select", "int_household_steps_pivoted_flags_in_0_1"]
    run_dbt(select, db=db)
    con = duckdb.connect(str(db))
    con.execute("update intermediate.int_household_steps_pivoted set fridge_power_health_score = 1.5 "
                "where step_at = (select max(step_at) from intermediate.int_household_steps_pivoted)")
    con.close()
    with pytest.raises(TransformError) as info:
        run_dbt(select, db=db)
    assert "FAIL 4 int_household_steps_pivoted_flags_in_0_1" in str(info.value), str(info.value)


def test_a_selected_build_runs_the_tests_of_what_it_built_and_of_nothing_it_left_stale(built_db, tmp_path):
    """`build(select=...)` runs a test when every model it reads was selected or lies upstream of
    one that was: the marts' relationships test against the anomaly-class seed runs with the mart
    alone (the batch job builds its prediction marts so), while the features' row count against
    the grid does not run when only the grid was rebuilt (the features would be stale)."""
    db = tmp_path / "selected.duckdb"
    shutil.copy(built_db, db)
    marts = build(db=db, select="fct_classified_anomalies")
    assert "relationships_fct_classified_anomalies_anomaly_class" in marts
    grid = build(db=db, select="+int_readings_gridded")
    assert "unique_combination_int_readings_missing_steps" in grid
    assert "int_readings_missing_steps_never_where_a_reading_is" in grid
    assert "int_sensor_features_rolled_one_row_per_grid_row" not in grid


def test_a_wide_csv_with_an_unknown_sensor_at_a_1_hour_step(tmp_path):
    csv = tmp_path / "barometer.csv"
    rows = ["time;pressure_hpa"]
    for hour in range(24 * 10):
        value = 1013.0 + 2.0 * ((hour % 24) / 24) + (60.0 if hour == 200 else 0.0)
        rows.append(f"2025-03-{1 + hour // 24:02d} {hour % 24:02d}:00:00;{value:.1f}")
    csv.write_text("\n".join(rows) + "\n")
    db = tmp_path / "w.duckdb"
    ingest_files([csv], db=db, household="flat_7")
    build(db=db, dbt_vars={"step_minutes": 60})
    flagged = _query(db, """
        select count(*), count(anomaly_score), max(spike_severity + point_severity) filter (
            where step_at = timestamp '2025-03-09 08:00'), max(spike_severity + point_severity) filter (
            where step_at <> timestamp '2025-03-09 08:00')
        from intermediate.int_sensor_steps_flagged where household_id = 'flat_7' and sensor = 'pressure_hpa'""")
    (rows, scored, at_spike, elsewhere), = flagged
    assert rows == 240 and scored == 240
    assert at_spike > 0.5 and elsewhere == 0


def test_a_failed_build_names_the_problem(tmp_path):
    db = tmp_path / "w.duckdb"
    land_simulation(SimConfig(households=1, days=1, seed=2), db=db)
    con = duckdb.connect(str(db))
    con.execute("alter table raw.readings rename column value to reading_value")  # a broken contract
    con.close()
    with pytest.raises(TransformError) as info:
        build(db=db)
    message = str(info.value)
    assert "dbt build failed" in message and str(db) in message
    assert "stg_raw__readings" in message and "dbt.log" in message


NO_NETWORK = """
import os, socket

def _refuse(*args, **kwargs):
    with open(os.environ["HOMEWATCH_TEST_NETLOG"], "a") as log:
        log.write(repr(args) + "\\n")
    raise OSError(101, "network is unreachable (blocked by the test)")

_connect = socket.socket.connect
def _connect_local_only(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        return _refuse(sock, address)
    return _connect(sock, address)

socket.socket.connect = _connect_local_only
socket.socket.connect_ex = _connect_local_only
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
"""


def test_docs_generate_works_offline(built_db, tmp_path, monkeypatch):
    """dbt docs generate in a process that can open no network connection: it succeeds without
    trying one, and the page it writes loads no script or style from the web."""
    import os
    import re
    import subprocess
    import sys

    from warehouse.transform import run_dbt

    blocker = tmp_path / "no_network"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(NO_NETWORK)   # imported by every Python that starts
    netlog = tmp_path / "netlog.txt"
    netlog.write_text("")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("HOMEWATCH_TEST_NETLOG", str(netlog))
    # the blocker itself: a process that does try the network is refused and logged
    tried = subprocess.run([sys.executable, "-c", "import urllib.request; urllib.request.urlopen("
                            "'http://example.invalid/', timeout=5)"], capture_output=True, text=True)
    assert tried.returncode != 0 and "example.invalid" in netlog.read_text()
    netlog.write_text("")

    db = tmp_path / "docs.duckdb"
    shutil.copy(built_db, db)
    run_dbt(["docs", "generate", "--target-path", str(tmp_path / "target")], db=db)
    assert netlog.read_text() == ""                          # dbt never tried the network
    index = (tmp_path / "target" / "index.html").read_text()
    catalog = (tmp_path / "target" / "catalog.json").read_text()
    assert "<html" in index.lower() and "fct_anomaly_events" in catalog
    assert not re.findall(r"<(?:script|link|img)[^>]+(?:src|href)=[\"']?(?:https?:)?//", index, flags=re.I)
    assert not re.findall(r"@import\s+(?:url\()?[\"']?(?:https?:)?//", index, flags=re.I)


def test_the_build_command(tmp_path, capsys):
    from scripts.cli import main

    db = tmp_path / "w.duckdb"
    land_simulation(SimConfig(households=1, days=2, seed=8), db=db)
    assert main(["build", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "[build]" in err and "dbt build finished" in err
    (events,), = _query(db, "select count(*) from information_schema.tables where table_name = 'fct_anomaly_events'")
    assert events == 1


@pytest.mark.parametrize("killed_after_gridding", [False, True], ids=["whole build", "build killed then rerun"])
def test_a_gap_between_batches_is_gridded_as_missing(tmp_path, killed_after_gridding):
    """A household's next batch starts hours after its previous one ended: the steps in
    between exist on the incremental grid as missing (dropout), exactly as on a full refresh.
    Also when the build that took the batch in died after gridding it (dbt commits model by
    model): the rerun recomputes from before the gap all the same."""
    db = tmp_path / "w.duckdb"
    land_simulation(SimConfig(households=2, days=3, seed=4), db=db)
    later = "reading_at >= '2025-01-02 10:00'"
    con = duckdb.connect(str(db))
    rows = con.execute(f"select reading_at, household_id, sensor, value from raw.readings "
                       f"where {later} and reading_at >= '2025-01-02 14:00' and household_id = 'H0001'").fetchall()
    con.execute(f"delete from raw.readings where {later} and household_id = 'H0001'")
    con.close()
    build(db=db)
    csv = tmp_path / "after_outage.csv"  # H0001 comes back 4 hours after its last reading
    csv.write_text("timestamp,household,sensor,value\n" + "".join(f"{t},{h},{s},{v}\n" for t, h, s, v in rows))
    ingest_files([csv], db=db)
    if killed_after_gridding:   # the grid (and what it needs) took the batch in, nothing after it
        build(db=db, select="+int_readings_gridded")
    build(db=db)
    gap = ("select count(distinct step_at) from intermediate.int_readings_gridded where household_id = 'H0001' "
           "and step_at >= '2025-01-02 10:00' and step_at < '2025-01-02 14:00' and is_missing")
    (in_gap,), = _query(db, gap)
    incremental, full = _incremental_then_full_refresh(db)
    assert in_gap == 48  # 10:00 .. 13:55
    assert incremental == full


def test_a_dbt_session_runs_its_commands_in_one_process_and_frees_the_file_between(built_db, tmp_path):
    """The batch job's dbt worker (warehouse/dbt_worker.py): one process for several commands,
    the warehouse closed between them (the job writes to it then), a failed command reported
    like a one-shot dbt's, and the process gone when the session ends."""
    from warehouse import transform
    from warehouse.connection import resolve_db_path, writer

    db = tmp_path / "session.duckdb"
    shutil.copy(built_db, db)
    key = resolve_db_path(db)
    with transform.dbt_session(db):
        build(db=db, select="dim_households")
        worker = transform._WORKERS[key]
        with writer(db) as con:              # dbt holds no connection between commands
            con.execute("create table ml.between_commands as select 1 as x")
        with pytest.raises(TransformError, match="dbt show failed"):
            transform.run_dbt(["show", "--inline", "select * from no_such_table"], db=db)
        output = build(db=db, select="dim_households")
        assert transform._WORKERS[key] is worker and worker.proc.poll() is None
        assert "Done. PASS=" in output
    assert worker.proc.poll() == 0 and key not in transform._WORKERS


def test_a_table_built_with_other_columns_names_the_fix(built_db, tmp_path):
    """An upgrade that adds a column to an incremental model meets a table built before it: the
    build stops (dbt's on_schema_change: fail) and says to rebuild once with --full-refresh."""
    db = tmp_path / "older.duckdb"
    shutil.copy(built_db, db)
    con = duckdb.connect(str(db))
    con.execute("alter table intermediate.int_household_rules_flagged drop column temperature_mean_24h")
    con.close()
    with pytest.raises(TransformError) as info:
        build(db=db, select="int_household_rules_flagged")
    assert "int_household_rules_flagged" in str(info.value)
    assert "homewatch build --full-refresh" in str(info.value)
