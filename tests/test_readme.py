"""The README stays true: every query it shows returns rows on the demo warehouse, and the rows
mean what the README says they mean.

The demo warehouse here is the session's `batched` one (built, checked, scored, marts and
reports refreshed by the batch job). Its quick test model (one epoch) names almost every step a
fridge failure, so no fire and nothing this week would reach the classifier's mart. The
warehouse below gives its production model the ground truth as predictions (in distribution), plus a few false
alarms placed so that each query's filters and order have something to leave out or sort: a
fire older than a day, a short fridge failure, doors at night in two homes this week, a rule's
door alarm older than a week, and a job run the day before.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import duckdb
import pytest

from scripts.cli import main
from warehouse.connection import REPO_ROOT
from warehouse.project_vars import dbt_var

README = (REPO_ROOT / "README.md").read_text()
QUERIES = [re.sub(r"\s+", " ", q).strip() for q in re.findall(r'homewatch query "(.*?)"', README, flags=re.S)]
PROBABILITIES = ["p_normal", "p_temperature_failure", "p_humidity_anomaly", "p_fridge_failure", "p_door_at_night", "p_fire"]
# (household, class, first step, last step): predicted where nothing was injected
FALSE_ALARMS = [("H0001", 5, "2025-01-10 12:00", "2025-01-10 12:25"),
                ("H0001", 3, "2025-01-13 10:00", "2025-01-13 11:55"),
                ("H0001", 4, "2025-01-13 02:00", "2025-01-13 02:00"),
                ("H0001", 4, "2025-01-14 02:00", "2025-01-14 02:05"),
                ("H0003", 4, "2025-01-13 03:00", "2025-01-13 03:00")]


@pytest.fixture(scope="module")
def demo(batched, tmp_path_factory):
    """A copy of the demo warehouse as the module docstring says, its classified-anomalies mart
    rebuilt from the new predictions. Read only."""
    from warehouse.transform import build

    db = tmp_path_factory.mktemp("readme") / "w.duckdb"
    shutil.copy(batched[0], db)
    con = duckdb.connect(str(db))
    probability = ", ".join(f"{p} = case when predicted_class = {c} then 0.9 else 0.02 end"
                            for c, p in enumerate(PROBABILITIES))
    con.execute("""
        update ml.predictions as p set predicted_class = l.label_class from marts.int_steps_labelled as l
        where l.household_id = p.household_id and l.step_at = p.step_at""")
    for household, cls, first, last in FALSE_ALARMS:
        con.execute("update ml.predictions set predicted_class = ? where household_id = ? and step_at between ? and ?",
                    [cls, household, first, last])
    # ground truth is in distribution: the quick model's out-of-distribution flags (it saw four
    # homes) would hide a whole home's anomalies from the mart
    con.execute(f"update ml.predictions as p set confidence = 0.9, is_out_of_distribution = false, {probability}")
    con.execute("""
        insert into marts.fct_anomaly_events
        select * replace ('old-door-alarm' as event_id, 'H0003' as household_id,
                          timestamp '2025-01-03 03:00' as start_at, timestamp '2025-01-03 03:10' as end_at)
        from marts.fct_anomaly_events where rule_name = 'door_at_night' limit 1""")
    con.execute("""
        insert into ops.job_runs
        select * replace (run_id || '-before' as run_id, started_at - interval 1 day as started_at,
                          finished_at - interval 1 day as finished_at, watermark_to - interval 1 day as watermark_to)
        from ops.job_runs""")
    con.close()
    build(db=db, select="stg_ml__predictions stg_ml__model_registry fct_classified_anomalies")
    return db


def _rows(db, sql, params=None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _now(db) -> dt.datetime:
    """The README's "now": the newest step in the warehouse."""
    return _rows(db, "select max(step_at) from marts.fct_ml_features")[0][0]


def _anomalies(db) -> list[dict]:
    """Every classified anomaly, as plain dicts."""
    cols = ["household_id", "anomaly_class", "class_name", "start_at", "end_at", "duration_minutes",
            "mean_confidence", "rules_fired", "rule_agrees"]
    return [dict(zip(cols, r)) for r in _rows(db, f"select {', '.join(cols)} from marts.fct_classified_anomalies")]


def _truth(db, event_type=None, anomaly_class=None) -> list[tuple]:
    """Injected anomalies (household, class, start, end) of a type or class."""
    return _rows(db, "select household_id, anomaly_class, start_at, end_at from raw.injected_events "
                     "where kind = 'anomaly' and (? is null or event_type = ?) and (? is null or anomaly_class = ?)",
                 [event_type, event_type, anomaly_class, anomaly_class])


def _overlaps(household, start, end, truth) -> bool:
    return any(h == household and s < end and start < e for h, _, s, e in truth)


# --- what each query says it answers ----------------------------------------------------------


def _sensor_counts(db, rows):
    # every sensor some simulated home's kit has (raw.households.profile lists them), none other
    kits = {s for (p,) in _rows(db, "select profile from raw.households") for s in json.loads(p)["sensors"]}
    assert {s for s, _ in rows} == kits and {"temperature", "humidity", "fridge_power"} <= kits
    assert sum(n for _, n in rows) == _rows(db, "select count(*) from raw.readings")[0][0]


def _generic_incidents_of_the_last_week(db, rows):
    """Incidents of the last 7 days (up to the newest incident's end), newest first, each made of
    sensor incidents of its household and kind that it spans, alerted at or after its onset."""
    now = _rows(db, "select max(end_at) from marts.fct_incidents")[0][0]
    (in_week,), = _rows(db, "select count(*) from marts.fct_incidents where onset_at >= ?::timestamp - interval 7 day", [now])
    assert rows and len(rows) == min(20, in_week)
    onsets = [r[2] for r in rows]
    assert onsets == sorted(onsets, reverse=True) and min(onsets) >= now - dt.timedelta(days=7)
    alert_p = dbt_var("incident_alert_p")
    for household, kind, onset, alerted, end, sensors, channel, score, severity in rows:
        assert onset <= alerted < end and kind in ("anomaly", "health")
        assert score >= round(1 - alert_p, 6) and severity in ("low", "medium", "high")
        parts = _rows(db, "select sensor from intermediate.int_sensor_incidents where household_id = ? and kind = ? "
                          "and onset_at >= ? and end_at <= ?", [household, kind, onset, end])
        assert sorted({p for p, in parts}) == sorted(sensors)
    # the simulated homes' labelled anomalies and faults: some listed incident is one of them
    assert any(_overlaps(h, onset, end, _rows(db, "select household_id, anomaly_class, start_at, end_at "
                                                  "from raw.injected_events where kind in ('anomaly', 'fault')"))
               for h, _, onset, _, end, *_ in rows)


def _fires_of_the_last_24_hours(db, rows):
    now = _now(db)
    fires = [a for a in _anomalies(db) if a["class_name"] == "fire" and a["end_at"] > now - dt.timedelta(hours=24)]
    assert sorted((h, s, e) for h, s, e, _, _ in rows) == sorted((a["household_id"], a["start_at"], a["end_at"]) for a in fires)
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)
    truth = _truth(db, anomaly_class=5)
    for household, start, end, confidence, rules in rows:
        assert _overlaps(household, start, end, truth)          # a real fire
        assert confidence == 0.9 and "fire" in rules             # the rule saw it too


def _homes_with_most_anomalies_this_week(db, rows):
    now = _now(db)
    monday = dt.datetime.combine(now.date() - dt.timedelta(days=now.weekday()), dt.time())
    per_home: dict[str, list[str]] = {}
    for a in _anomalies(db):
        if a["start_at"] >= monday:
            per_home.setdefault(a["household_id"], []).append(a["class_name"])
    expected = sorted(((h, len(c), sorted(set(c))) for h, c in per_home.items()), key=lambda r: (-r[1], r[0]))[:10]
    assert [(h, n, list(c)) for h, n, c in rows] == expected


def _fridge_failures_longer_than_6_hours(db, rows):
    long = [a for a in _anomalies(db) if a["class_name"] == "fridge_failure"
            and a["end_at"] - a["start_at"] > dt.timedelta(hours=6)]
    assert sorted((h, s) for h, s, *_ in rows) == sorted((a["household_id"], a["start_at"]) for a in long)
    truth = _truth(db, event_type="fridge_failure")
    for household, start, end, hours, _ in rows:
        assert hours == round((end - start).total_seconds() / 3600, 1) and hours > 6
        assert _overlaps(household, start, end, truth)
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True)


def _false_alarm_rate_per_rule(db, rows):
    events = _rows(db, "select rule_name, household_id, anomaly_class, start_at, end_at from marts.fct_anomaly_events "
                       "where event_kind = 'anomaly'")
    truth = _truth(db)
    expected: dict[str, list[int]] = {}
    for rule, household, cls, start, end in events:
        counts = expected.setdefault(rule, [0, 0])
        counts[0] += 1
        counts[1] += not any(h == household and c == cls and s < end and start < e for h, c, s, e in truth)
    assert {r: (n, false) for r, n, false, _ in rows} == {r: tuple(c) for r, c in expected.items()}
    assert all(rate == round(false / n, 3) for _, n, false, rate in rows)
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True)


def _classes_found(db, rows):
    anomalies = _anomalies(db)
    for name, n, confidence, agree in rows:
        mine = [a for a in anomalies if a["class_name"] == name]
        assert n == len(mine) and confidence == 0.9
        assert agree == round(sum(a["rule_agrees"] or 0 for a in mine) / n, 2)
    assert sum(r[1] for r in rows) == len(anomalies)
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)


def _latest_predictions(db, rows):
    assert len(rows) == 10 and all(cls != 0 for _, _, cls, _ in rows)
    newest = _rows(db, "select max(step_at) from ml.predictions where predicted_class <> 0")[0][0]
    assert rows[0][1] == newest and [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)


def _rule_doors_and_fires_of_the_last_week(db, rows):
    events = _rows(db, "select household_id, rule_name, start_at, end_at, anomaly_class from marts.fct_anomaly_events")
    since = max(e[3] for e in events) - dt.timedelta(days=7)
    expected = [e[:4] for e in events if e[4] in (4, 5) and e[2] >= since]
    assert sorted(r[:4] for r in rows) == sorted(expected)
    assert {r[1] for r in rows} <= {"door_at_night", "fire"}
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)


def _longest_rule_fridge_failures(db, rows):
    durations = sorted((r[0] for r in _rows(db, "select duration_minutes from marts.fct_anomaly_events "
                                                "where rule_name = 'fridge_failure'")), reverse=True)
    assert [r[2] for r in rows] == durations[:5]
    truth = _truth(db, event_type="fridge_failure")
    for household, start, minutes, watts in rows:
        assert _overlaps(household, start, start + dt.timedelta(minutes=minutes), truth) and watts < 5


def _recent_job_runs(db, rows):
    assert 1 <= len(rows) <= 5
    for run_id, status, rows_in, scored, found, by_class, watermark in rows:
        assert status == "succeeded" and rows_in > 0 and scored > 0
        assert found == sum(json.loads(by_class).values())
    newest = _rows(db, "select max(finished_at) from raw.batches")[0][0]
    assert rows[0][6] == newest


def _evaluation_side_by_side(db, rows):
    metrics = _rows(db, "select run_id, evaluated_at, split, anomaly_class, level, method, metric, value "
                        "from ml.evaluation_metrics")
    latest = max(metrics, key=lambda m: m[1])[0]
    expected = [(method, metric, None if value is None else round(value, 3))
                for run, _, split, cls, level, method, metric, value in metrics
                if run == latest and split == "test" and cls is None and level in ("step", "event")]
    assert rows == sorted(expected, key=lambda r: (r[1], r[0]))
    assert {m for m, _, _ in rows} == {"classifier", "rules", "isolation_forest"}
    assert {"macro_f1", "detection_f1", "false_alarms_per_household_week"} <= {metric for _, metric, _ in rows}


def _longest_injected_fridge_failures(db, rows):
    truth = sorted(_rows(db, "select household_id, start_at, end_at from raw.injected_events "
                             "where event_type = 'fridge_failure'"), key=lambda r: r[1] - r[2])
    assert [r[:3] for r in rows] == truth[:5]
    assert all("fridge" in description for *_, description in rows)


CHECKS = {
    "select household_id, kind, onset_at, alerted_at": _generic_incidents_of_the_last_week,
    "select sensor, count(*) from raw.readings": _sensor_counts,
    "select household_id, start_at, end_at, round(mean_confidence, 2) as confidence, rules_fired": _fires_of_the_last_24_hours,
    "select household_id, count(*) as anomalies": _homes_with_most_anomalies_this_week,
    "select household_id, start_at, end_at, round(duration_minutes / 60, 1) as hours": _fridge_failures_longer_than_6_hours,
    "select e.rule_name, count(*) as events": _false_alarm_rate_per_rule,
    "select class_name, count(*) as anomalies": _classes_found,
    "select household_id, step_at, predicted_class": _latest_predictions,
    "select household_id, rule_name, start_at, end_at, peak_severity": _rule_doors_and_fires_of_the_last_week,
    "select household_id, start_at, duration_minutes, observed_value": _longest_rule_fridge_failures,
    "select run_id, status": _recent_job_runs,
    "select method, metric": _evaluation_side_by_side,
    "select household_id, start_at, end_at, description from raw.injected_events": _longest_injected_fridge_failures,
}


def _check_of(sql: str):
    found = [check for start, check in CHECKS.items() if sql.startswith(start)]
    assert len(found) == 1, f"the README query has {len(found)} checks here (one needed): {sql}"
    return found[0]


def test_the_readme_shows_queries_and_each_has_its_check():
    assert len(QUERIES) >= 4
    assert [_check_of(q) for q in QUERIES]
    assert len({_check_of(q) for q in QUERIES}) == len(QUERIES)


@pytest.mark.parametrize("sql", QUERIES, ids=[q[:50] for q in QUERIES])
def test_each_readme_query_runs_and_answers_what_it_says(sql, demo, capsys):
    rows = _rows(demo, sql)
    assert rows, "the README query returns nothing on the demo warehouse"
    _check_of(sql)(demo, rows)
    assert main(["query", sql, "--db", str(demo)]) == 0, capsys.readouterr().err
    assert str(rows[0][0]) in capsys.readouterr().out          # the command prints the same answer
