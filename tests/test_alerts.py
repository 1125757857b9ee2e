"""The alert loop on hand-written mart rows: one alert per incident whichever detectors saw
it, an incident continuing across batches, suppression (cooldown, snooze, quiet hours, fire
never), the status lifecycle, and feedback changing a later batch's alerts."""
from __future__ import annotations

import datetime as dt

import pytest

from warehouse.alerts import AlertError, load_config, sync
from warehouse.alerts.config import AlertConfig, AlertConfigError
from warehouse.alerts.feedback import FeedbackError, explain, precision_by, record_csv, record_label
from warehouse.alerts.store import list_alerts, set_status, snooze
from warehouse.connection import writer

T0 = dt.datetime(2025, 1, 6)   # a Monday


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def make_marts(con) -> None:
    """The three marts as tables of the columns the alerts read, and households H1 (UTC) and
    H2 (Europe/Paris, UTC+1 in January), in a new warehouse."""
    con.execute("create schema marts")
    con.execute("create table marts.fct_anomaly_events (event_id varchar, household_id varchar, event_kind varchar, "
                "anomaly_class integer, rule_name varchar, start_at timestamp, end_at timestamp, sensors varchar[], "
                "observed_value double, expected_value double)")
    con.execute("create table marts.fct_classified_anomalies (anomaly_id varchar, household_id varchar, "
                "class_name varchar, start_at timestamp, end_at timestamp, model_version varchar, "
                "rule_observed_value double, rule_expected_value double, peak_confidence double)")
    con.execute("create table marts.fct_incidents (incident_id varchar, household_id varchar, kind varchar, "
                "onset_at timestamp, end_at timestamp, severity varchar, sensors varchar[], observed_value double, "
                "expected_value double, channel varchar)")
    for h, zone in (("H1", "UTC"), ("H2", "Europe/Paris")):
        con.execute("insert into raw.households values (?, 'file', ?, null, 'b', now())", [h, zone])


@pytest.fixture
def wh(tmp_path):
    """A new warehouse with hand-made marts (make_marts); yields an open writer."""
    with writer(tmp_path / "w.duckdb") as con:
        make_marts(con)
        yield con


def rule(con, eid, h, cls, name, start, end, sensors=("temperature",), obs=14.0, exp=20.0):
    con.execute("delete from marts.fct_anomaly_events where event_id = ?", [eid])
    con.execute("insert into marts.fct_anomaly_events values (?, ?, 'anomaly', ?, ?, ?, ?, ?, ?, ?)",
                [eid, h, cls, name, start, end, list(sensors), obs, exp])


def classified(con, aid, h, name, start, end, confidence=0.95):
    con.execute("insert into marts.fct_classified_anomalies values (?, ?, ?, ?, ?, 'm1', null, null, ?)",
                [aid, h, name, start, end, confidence])


def incident(con, iid, h, kind, start, end, severity="medium", sensors=("temperature",)):
    con.execute("delete from marts.fct_incidents where incident_id = ?", [iid])
    con.execute("insert into marts.fct_incidents values (?, ?, ?, ?, ?, ?, ?, 1.0, 2.0, 'level')",
                [iid, h, kind, start, end, severity, list(sensors)])


def data_until(con, t):
    """The newest reading: what 'now' is for the alerts (max_age_hours counts back from it)."""
    con.execute("delete from raw.readings")
    con.execute("insert into raw.readings values ('H1', 'temperature', ?, 20.0, 'b', now())", [t])


def alerts(con):
    return con.execute("select alert_id, household_id, alert_class, onset_at, end_at, severity, detectors, status, "
                       "suppressed_by, version from ops.alerts order by alert_id").fetchall()


def outbox(con):
    return con.execute("select delivery_id, change from ops.alert_outbox order by created_at, delivery_id").fetchall()


CFG = AlertConfig()


def test_one_incident_seen_by_three_detectors_is_one_alert(wh):
    rule(wh, "r1", "H1", 1, "heating_failure", at(10), at(12))
    classified(wh, "c1", "H1", "temperature_failure", at(10.5), at(12.5))
    incident(wh, "g1", "H1", "anomaly", at(9.8), at(11))
    incident(wh, "g2", "H1", "health", at(10), at(10.1), sensors=("humidity",))      # a sensor fault: its own alert
    rule(wh, "r2", "H1", 4, "door_at_night", at(11), at(11.2), sensors=("door",))    # another class: its own
    rule(wh, "r3", "H2", 1, "heating_failure", at(10), at(12))                        # another household: its own
    data_until(wh, at(13))
    result = sync(wh, CFG)
    rows = alerts(wh)
    assert len(rows) == 4 and result.opened + result.held_back == 4
    merged = next(r for r in rows if r[1] == "H1" and r[2] == "temperature_failure")
    assert merged[3:5] == (at(9.8), at(12.5))                                    # the union of the spans
    assert merged[6] == ["classifier", "generic", "rules"]
    assert {(r[1], r[2]) for r in rows} == {("H1", "temperature_failure"), ("H1", "sensor_health"),
                                            ("H1", "door_at_night"), ("H2", "temperature_failure")}
    assert sync(wh, CFG).queued == 0 and len(alerts(wh)) == 4                     # a re-run changes nothing


def test_an_incident_continuing_across_batches_updates_its_alert(wh):
    rule(wh, "r1", "H1", 1, "heating_failure", at(10), at(11))           # batch 1: the incident so far
    data_until(wh, at(11))
    sync(wh, CFG)
    assert [r[0] for r in alerts(wh)] == [1] and outbox(wh) == [("1:1", "opened")]
    rule(wh, "r1", "H1", 1, "heating_failure", at(10), at(15))           # batch 2: it goes on, the model sees it too
    classified(wh, "c1", "H1", "temperature_failure", at(12), at(15))
    incident(wh, "g1", "H1", "anomaly", at(14.8), at(15.5), severity="high")
    data_until(wh, at(16))
    result = sync(wh, CFG)
    rows = alerts(wh)
    assert len(rows) == 1 and result.opened == 0 and result.changed == 1
    assert rows[0][4] == at(15.5) and rows[0][5] == "high" and rows[0][6] == ["classifier", "generic", "rules"]
    assert rows[0][9] == 2 and outbox(wh) == [("1:1", "opened"), ("1:2", "escalated")]
    changes = wh.execute("select version, change, detail from ops.alert_changes order by version").fetchall()
    assert changes[1][1] == "escalated" and "also seen by classifier, generic" in changes[1][2]


def test_the_cooldown_holds_back_a_repeat_of_the_same_household_and_class_but_never_a_fire(wh):
    rule(wh, "r1", "H1", 3, "fridge_failure", at(0), at(1), sensors=("fridge_power",))
    rule(wh, "r2", "H1", 3, "fridge_failure", at(3), at(4), sensors=("fridge_power",))    # 2 h later: cooldown (6 h)
    rule(wh, "r3", "H1", 3, "fridge_failure", at(11), at(12), sensors=("fridge_power",))  # 7 h after the last sent
    rule(wh, "f1", "H1", 5, "fire", at(0), at(0.5), sensors=("fire_alarm",))
    rule(wh, "f2", "H1", 5, "fire", at(2), at(2.5), sensors=("fire_alarm",))               # fire in its cooldown
    data_until(wh, at(13))
    sync(wh, CFG)
    held = {(r[2], r[3]): r[8] for r in alerts(wh)}
    assert held[("fridge_failure", at(3))] == "cooldown"
    assert held[("fridge_failure", at(0))] is None and held[("fridge_failure", at(11))] is None
    assert held[("fire", at(0))] is None and held[("fire", at(2))] is None
    assert len(outbox(wh)) == 4


def test_snooze_of_a_household_or_a_sensor_until_a_time(wh):
    snooze(wh, "H1", at(5))
    snooze(wh, "H2", at(5), sensor="door")
    rule(wh, "a", "H1", 1, "heating_failure", at(1), at(2))
    rule(wh, "b", "H1", 1, "heating_failure", at(12), at(13))                    # after the snooze
    rule(wh, "c", "H1", 5, "fire", at(1), at(2), sensors=("fire_alarm",))       # fire: never held back
    rule(wh, "d", "H2", 4, "door_at_night", at(1), at(1.2), sensors=("door",))
    rule(wh, "e", "H2", 1, "heating_failure", at(1), at(2))                      # not the snoozed sensor
    data_until(wh, at(14))
    sync(wh, CFG)
    held = {(r[1], r[2], r[3]): r[8] for r in alerts(wh)}
    assert held == {("H1", "temperature_failure", at(1)): "snooze", ("H1", "temperature_failure", at(12)): None,
                    ("H1", "fire", at(1)): None, ("H2", "door_at_night", at(1)): "snooze",
                    ("H2", "temperature_failure", at(1)): None}
    with pytest.raises(AlertError, match="no household 'H9'"):
        snooze(wh, "H9", at(5))


def test_quiet_hours_hold_back_low_severity_in_the_household_local_time(wh):
    incident(wh, "g1", "H1", "anomaly", at(21.5), at(21.6), severity="low")     # 21:30 UTC: not quiet in H1
    incident(wh, "g2", "H2", "anomaly", at(21.5), at(21.6), severity="low")     # 22:30 in Paris: quiet
    incident(wh, "g3", "H2", "health", at(21.5), at(21.6), severity="medium", sensors=("door",))  # medium: sent
    data_until(wh, at(22))
    sync(wh, CFG)
    held = {(r[1], r[2]): r[8] for r in alerts(wh)}
    assert held == {("H1", "sensor_anomaly"): None, ("H2", "sensor_anomaly"): "quiet_hours",
                    ("H2", "sensor_health"): None}


def test_old_alerts_of_a_first_run_are_stored_not_sent(wh):
    rule(wh, "a", "H1", 1, "heating_failure", at(0), at(1))
    rule(wh, "b", "H1", 5, "fire", at(0), at(1), sensors=("fire_alarm",))
    data_until(wh, at(24 * 5))
    sync(wh, CFG)
    assert {r[2]: r[8] for r in alerts(wh)} == {"temperature_failure": "stale", "fire": None}


def test_the_status_lifecycle_is_logged_and_queued(wh):
    rule(wh, "a", "H1", 1, "heating_failure", at(0), at(1))
    data_until(wh, at(2))
    sync(wh, CFG)
    set_status(wh, CFG, 1, "ack", "on my way")
    with pytest.raises(AlertError, match="alert 1 is acknowledged: it cannot be acknowledged"):
        set_status(wh, CFG, 1, "ack")
    row = set_status(wh, CFG, 1, "resolve", "boiler fixed")
    assert row["status"] == "resolved" and row["acknowledged_at"] <= row["resolved_at"] and row["version"] == 3
    assert row["status_note"] == "boiler fixed"
    assert outbox(wh) == [("1:1", "opened"), ("1:2", "acknowledged"), ("1:3", "resolved")]
    with pytest.raises(AlertError, match="no alert 7"):
        set_status(wh, CFG, 7, "dismiss")
    frame = list_alerts(wh, status="resolved", household="H1", alert_class="temperature_failure", since=at(0.5))
    assert list(frame.alert_id) == [1]
    assert list_alerts(wh, since=at(1.5)).empty and list_alerts(wh, status="open").empty


def _night(con, n, hour=23.0, eid=None, h="H1"):
    """A door-at-night rule alert on night n (a false alarm in the feedback tests)."""
    rule(con, eid or f"door{n}", h, 4, "door_at_night", at(24 * n + hour), at(24 * n + hour + 0.2), sensors=("door",))
    data_until(con, at(24 * n + hour + 1))
    sync(con, CFG)
    return con.execute("select max(alert_id) from ops.alerts").fetchone()[0]


def test_false_labels_hold_back_a_later_batch_and_a_true_label_reverses_it(wh):
    first = _night(wh, 0)
    record_label(wh, CFG, first, "false", note="late return")
    assert wh.execute("select status from ops.alerts where alert_id = ?", [first]).fetchone()[0] == "dismissed"
    second = _night(wh, 1)
    assert wh.execute("select suppressed_by from ops.alerts where alert_id = ?", [second]).fetchone()[0] is None
    record_label(wh, CFG, second, "false")           # two false alarms near 23:00: a quiet pattern
    third = _night(wh, 2, hour=23.3)
    assert wh.execute("select suppressed_by from ops.alerts where alert_id = ?", [third]).fetchone()[0] == "feedback"
    rule(wh, "fire", "H1", 5, "fire", at(24 * 3 + 23), at(24 * 3 + 23.5), sensors=("fire_alarm",))
    other = _night(wh, 3, h="H2")                    # another household learns nothing from H1's labels
    held = dict(wh.execute("select alert_class || household_id, suppressed_by from ops.alerts where onset_at >= ?",
                           [at(72)]).fetchall())
    assert held == {"fireH1": None, "door_at_nightH2": None} and other
    text = explain(wh, third)
    assert "held back: feedback" in text and "strictness -> 1" in text and "quiet_pattern 23:00 -> 12" in text
    assert ("quiet_pattern 23:00: 0 -> 12 (2 false alarm(s) of H1 door_at_night started near 23:00 local time, "
            "the longest 12 min)") in explain(wh, second)
    rule(wh, "long", "H1", 4, "door_at_night", at(24 * 5 + 23), at(24 * 5 + 23.3), sensors=("door",))
    data_until(wh, at(24 * 5 + 23.3))
    sync(wh, CFG)
    assert wh.execute("select suppressed_by from ops.alerts where onset_at = ?", [at(24 * 5 + 23)]).fetchone()[0] \
        == "feedback"                                # 18 min: the pattern's shape (up to 2 x 12 min)
    rule(wh, "long", "H1", 4, "door_at_night", at(24 * 5 + 23), at(24 * 5 + 24.5), sensors=("door",))
    data_until(wh, at(24 * 5 + 24.5))
    sync(wh, CFG)                                    # it goes on for 90 min: not the false alarms' shape
    assert wh.execute("select suppressed_by, version from ops.alerts where onset_at = ?", [at(24 * 5 + 23)]
                      ).fetchone() == (None, 2)
    record_label(wh, CFG, first, "true", note="it was a break-in after all")   # relabel: strictness 0, no pattern
    fourth = _night(wh, 6)
    assert wh.execute("select suppressed_by from ops.alerts where alert_id = ?", [fourth]).fetchone()[0] is None
    assert "changed strictness: 1 -> 0" in explain(wh, first)
    assert "changed quiet_pattern 23:00: 12 -> 0" in explain(wh, first)


def test_the_generic_class_gets_stricter_and_a_held_alert_is_sent_once_a_rule_names_it(wh):
    def generic(n, hour, severity="high"):
        incident(wh, f"g{n}", "H1", "anomaly", at(24 * n + hour), at(24 * n + hour + 0.5), severity=severity)
        data_until(wh, at(24 * n + hour + 1))
        sync(wh, CFG)
        return wh.execute("select alert_id, suppressed_by from ops.alerts where onset_at = ?",
                          [at(24 * n + hour)]).fetchone()

    for n, hour in enumerate((3, 9, 15)):                   # three false alarms at unrelated hours
        alert_id, held = generic(n, hour)
        assert held == (None if n < 2 else "feedback")       # the third is held back already (strictness 2)
        record_label(wh, CFG, alert_id, "false")            # a person may label what was held back too
    levels = wh.execute("select new_value from ops.alert_adaptations where kind = 'strictness' and sensor is not null "
                        "order by all").fetchall()
    assert levels == [(1,), (2,), (3,)]                      # bounded: max_strictness 3 per sensor, generic classes
    assert wh.execute("select max(new_value) from ops.alert_adaptations where kind = 'strictness' "
                      "and sensor is null").fetchone()[0] == 1   # the household as a whole: low severity only
    held_id, held = generic(4, 20)                           # high severity, one detector: held back now
    assert held == "feedback"
    rule(wh, "r1", "H1", 1, "heating_failure", at(24 * 4 + 20.2), at(24 * 4 + 23))   # a rule names it
    data_until(wh, at(24 * 4 + 23.5))
    sync(wh, CFG)
    row = wh.execute("select alert_class, suppressed_by, version from ops.alerts where alert_id = ?", [held_id]).fetchone()
    assert row == ("temperature_failure", None, 2)
    assert ("%d:2" % held_id, "opened") in outbox(wh)
    for n in range(3):                                       # named classes stop at strictness 1
        record_label(wh, CFG, _night(wh, 10 + n, hour=3 + 6 * n), "false")
    assert wh.execute("select max(new_value) from ops.alert_adaptations where alert_class = 'door_at_night' "
                      "and kind = 'strictness'").fetchone()[0] == 1


def test_labels_from_a_csv_are_all_or_nothing_and_give_precision(wh, tmp_path):
    ids = [_night(wh, n) for n in range(3)]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"alert_id,label,class\n{ids[0]},false,\n{ids[1]},maybe,\nx,true,9\n")
    with pytest.raises(FeedbackError, match=r"2 bad line\(s\), nothing recorded: line 3: label 'maybe'.*line 4"):
        record_csv(wh, CFG, bad)
    assert wh.execute("select count(*) from ops.alert_feedback").fetchone()[0] == 0
    good = tmp_path / "good.csv"
    good.write_text(f"alert_id,label,class,note\n{ids[0]},false,,\n{ids[1]},true,4,real\n{ids[2]},unsure,,\n")
    assert record_csv(wh, CFG, good) == 3
    by_class = precision_by(wh, "class")
    assert by_class.to_dict("records") == [{"class": "door_at_night", "n_true": 1, "n_false": 1, "precision": 0.5}]
    with pytest.raises(FeedbackError, match="class '9' is not a class number"):
        record_label(wh, CFG, ids[0], "true", corrected_class="9")


def test_the_config_file_names_a_wrong_key(tmp_path, monkeypatch):
    path = tmp_path / "homewatch.toml"
    path.write_text("[alerts]\ncooldown_minutes = 60\nquiet_hours = ''\n[sinks.file]\npath = 'x.jsonl'\n"
                    "[sinks.webhook]\nurl = 'http://127.0.0.1:9/hook'\n")
    config = load_config(path)
    assert config.alerts.cooldown_minutes == 60 and config.sinks() == ["file", "webhook"] and config.quiet_window() is None
    monkeypatch.setenv("HOMEWATCH_WEBHOOK_URL", "http://127.0.0.1:8/other")
    assert load_config(path).webhook.url.endswith("/other")
    path.write_text("[alerts]\ncooldown = 60\n")
    with pytest.raises(AlertConfigError, match=r"unknown key\(s\) cooldown"):
        load_config(path)
    path.write_text("[alerts]\nquiet_hours = 'late'\n")
    with pytest.raises(AlertConfigError, match="quiet_hours 'late' is not like 22:00-07:00"):
        load_config(path)


def test_the_report_section_shows_precision_from_feedback(wh):
    from warehouse.alerts.report import feedback_section

    ids = [_night(wh, n) for n in range(3)]
    assert "No label yet" in feedback_section(wh)
    record_label(wh, CFG, ids[0], "true")
    record_label(wh, CFG, ids[1], "false")
    record_label(wh, CFG, ids[2], "false")
    html = feedback_section(wh)
    assert "<h2>Alerts and feedback</h2>" in html
    assert "<tr><td>door_at_night</td><td>1</td><td>2</td><td>0.333</td></tr>" in html
    assert "<tr><td>H1</td><td>1</td><td>2</td><td>0.333</td></tr>" in html


def test_the_cli_lists_changes_labels_and_explains(tmp_path, capsys, monkeypatch):
    from scripts.cli import main

    monkeypatch.setenv("HOMEWATCH_CONFIG", str(tmp_path / "none.toml"))
    db = tmp_path / "w.duckdb"
    with writer(db) as con:
        make_marts(con)
        rule(con, "a", "H1", 1, "heating_failure", at(0), at(1))
        rule(con, "b", "H2", 4, "door_at_night", at(0), at(0.2), sensors=("door",))
        data_until(con, at(2))
    d = ["--db", str(db)]
    assert main(["alerts", "list", *d]) == 2                       # the config file named is missing
    assert "no alert configuration at" in capsys.readouterr().err
    (tmp_path / "none.toml").write_text("[sinks.file]\npath = '" + str(tmp_path / "a.jsonl") + "'\n")
    assert main(["alerts", *d]) == 0 and "no alert yet" in capsys.readouterr().out
    assert main(["alerts", "sync", *d]) == 0 and "delivered 2 to file" in capsys.readouterr().err
    assert main(["alerts", "--household", "H2", *d]) == 0
    out = capsys.readouterr().out
    assert "door_at_night" in out and "temperature_failure" not in out
    assert main(["alerts", "ack", "1", "--note", "on it", *d]) == 0 and "alert 1 is acknowledged" in capsys.readouterr().out
    assert main(["alerts", "--status", "acknowledged", *d]) == 0
    out = capsys.readouterr().out
    assert "temperature_failure" in out and "door_at_night" not in out
    assert main(["label", "2", "false", "--note", "cat flap", *d]) == 0
    assert main(["alerts", "explain", "2", *d]) == 0
    out = capsys.readouterr().out
    assert "label #1" in out and "strictness: 0 -> 1" in out and "dismissed" in out
    assert main(["alerts", "ack", "x", *d]) == 2 and "'x' is not an alert ID" in capsys.readouterr().err
    assert main(["alerts", "snooze", "H1", *d]) == 2 and "needs --until TIME" in capsys.readouterr().err
    assert main(["label", "2", *d]) == 2 and "give ALERT_ID and a label" in capsys.readouterr().err
    assert main(["alerts", "deliver", *d]) == 0 and "delivered 2 to file" in capsys.readouterr().err  # ack + dismiss
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 4


def test_the_example_config_documents_every_setting_with_its_default():
    import dataclasses
    import tomllib

    from warehouse.alerts.config import AlertSettings
    from warehouse.connection import REPO_ROOT

    path = REPO_ROOT / "homewatch.example.toml"
    written = tomllib.loads(path.read_text())["alerts"]
    assert written == dataclasses.asdict(AlertSettings())
    assert load_config(path).sinks() == ["file"]


def test_listing_a_warehouse_no_alert_step_has_written_says_so(tmp_path, capsys):
    import duckdb

    from scripts.cli import main

    db = tmp_path / "old.duckdb"
    duckdb.connect(str(db)).close()          # a warehouse from before the alerts (read-only: not migrated)
    assert main(["alerts", "--db", str(db)]) == 0 and "no alert yet" in capsys.readouterr().out
    assert main(["alerts", "explain", "3", "--db", str(db)]) == 0 and "no alert yet" in capsys.readouterr().out


def test_a_true_alert_near_a_quiet_pattern_removes_it(wh):
    for n in range(3):                                     # three false alarms near 23:00: a pattern
        record_label(wh, CFG, _night(wh, n), "false")
    assert _night(wh, 3) and wh.execute("select suppressed_by from ops.alerts order by alert_id desc limit 1"
                                        ).fetchone()[0] == "feedback"
    record_label(wh, CFG, 4, "true", note="a real one, held back")   # the held-back alert was real
    assert wh.execute("select new_value from ops.alert_adaptations where kind = 'quiet_pattern' and hour_of_day = 23 "
                      "order by adaptation_id desc limit 1").fetchone()[0] == 0
    assert wh.execute("select suppressed_by from ops.alerts where alert_id = ?", [_night(wh, 5)]).fetchone()[0] is None


def _homes(con, *households):
    for h in households:
        con.execute("insert into raw.households values (?, 'file', 'UTC', null, 'b', now())", [h])


def _sync_rule(con, eid, h, cls, name, start, end, sensors):
    rule(con, eid, h, cls, name, start, end, sensors=sensors)
    data_until(con, end)
    sync(con, CFG)
    return con.execute("select alert_id, suppressed_by from ops.alerts where household_id = ? and onset_at = ?",
                       [h, start]).fetchone()


def test_one_false_alarm_makes_a_pattern_where_other_homes_saw_false_alarms_at_that_hour(wh):
    _homes(wh, "H3", "H4")
    door = lambda eid, h, hours: _sync_rule(wh, eid, h, 4, "door_at_night", at(hours), at(hours + 0.1), ("door",))  # noqa: E731
    first, held = door("a0", "H1", 8)
    record_label(wh, CFG, first, "false", note="leaving for work")
    assert door("a1", "H1", 24 + 8.2)[1] is None             # one label of its own, no other home: no pattern
    for eid, h, hours in (("c2", "H3", 48 + 8), ("d2", "H4", 48 + 8.3)):
        record_label(wh, CFG, door(eid, h, hours)[0], "false")
    held_id, held = door("a3", "H1", 72 + 8.1)                # three homes' false alarms near 08:00: held back
    assert held == "feedback"
    assert "across all homes, false alarms near 08:00 in 3 home(s), 0 of 3 true" in explain(wh, held_id)
    assert door("b3", "H2", 72 + 7)[1] is None                # 08:00 in Paris, but H2 said nothing itself
    for eid, h, hours in (("c4", "H3", 96 + 8.5), ("d4", "H4", 96 + 8.4)):
        record_label(wh, CFG, door(eid, h, hours)[0], "true")  # real ones near 08:00 elsewhere: 2 of 5 true
    assert wh.execute("select new_value, reason from ops.alert_adaptations where household_id = 'H1' "
                      "and kind = 'quiet_pattern' and hour_of_day = 8 order by adaptation_id desc limit 1"
                      ).fetchone()[0] == 0                    # H1's pattern is gone (logged with H4's label)
    assert door("a5", "H1", 120 + 8)[1] is None


def test_a_duration_gate_holds_back_short_alerts_where_false_alarms_were_short_and_real_ones_long(wh):
    _homes(wh, "H3", "H4")
    fridge = lambda eid, h, hours, length: _sync_rule(  # noqa: E731
        wh, eid, h, 3, "fridge_failure", at(hours), at(hours + length), ("fridge_power",))
    for n, hour in enumerate((3, 15)):                        # two 10-minute blips of H1 at unrelated hours
        record_label(wh, CFG, fridge(f"f{n}", "H1", 24 * n + hour, 1 / 6)[0], "false", note="defrost")
    assert fridge("f2", "H1", 48 + 20, 1 / 6)[1] is None      # nothing says yet that real failures last longer
    for h in ("H2", "H3", "H4"):                              # real failures of hours in three other homes
        record_label(wh, CFG, fridge(f"t{h}", h, 72 + 1, 5)[0], "true")
    gate = wh.execute("select new_value, reason from ops.alert_adaptations where household_id = 'H1' "
                      "and kind = 'duration_gate' order by adaptation_id desc limit 1").fetchone()
    assert gate[0] == 60 and "0 of 3 true alerts of the class lasted 60 min or less" in gate[1]
    held_id, held = fridge("f4", "H1", 96 + 20, 1 / 6)
    assert held == "feedback"
    assert fridge("f4", "H1", 96 + 20, 3)[1] is None          # it goes on for 3 h: sent at the next batch
    assert ("%d:2" % held_id, "opened") in outbox(wh)
    record_label(wh, CFG, fridge("f6", "H1", 144 + 9, 1 / 4)[0], "true")   # a short real one of H1: gate off
    assert fridge("f7", "H1", 168 + 14, 1 / 6)[1] is None
    # a class whose real alerts are short too (a door opened at night) never gets a gate
    for n, hour in enumerate((2, 14)):
        record_label(wh, CFG, _sync_rule(wh, f"n{n}", "H1", 4, "door_at_night", at(24 * n + hour),
                                         at(24 * n + hour + 0.2), ("door",))[0], "false")
    for h in ("H2", "H3", "H4"):
        record_label(wh, CFG, _sync_rule(wh, f"r{h}", h, 4, "door_at_night", at(72 + 3), at(72 + 3.2),
                                         ("door",))[0], "true")
    assert _sync_rule(wh, "n9", "H1", 4, "door_at_night", at(200 + 19), at(200 + 19.2), ("door",))[1] is None
    assert not wh.execute("select count(*) from ops.alert_adaptations where alert_class = 'door_at_night' "
                          "and kind = 'duration_gate' and new_value > 0").fetchone()[0]


def test_generic_feedback_is_per_sensor_and_leaves_the_households_other_sensors_alone(wh):
    """'This sensor's departures are usual here' must not silence the household's other sensors
    (the real house: labels of a noisy weather station held back a heating failure)."""
    def generic(n, hour, sensors, kind="anomaly", severity="high"):
        incident(wh, f"g{n}", "H1", kind, at(24 * n + hour), at(24 * n + hour + 0.5), severity=severity,
                 sensors=sensors)
        data_until(wh, at(24 * n + hour + 1))
        sync(wh, CFG)
        return wh.execute("select alert_id, suppressed_by from ops.alerts where onset_at = ?",
                          [at(24 * n + hour)]).fetchone()

    for n, hour in enumerate((3, 9, 15)):                    # three false alarms of the outdoor sensor
        record_label(wh, CFG, generic(n, hour, ("outdoor_temperature",))[0], "false")
    assert wh.execute("select sensor, max(new_value) from ops.alert_adaptations where kind = 'strictness' "
                      "group by all order by all").fetchall() == [("outdoor_temperature", 3), (None, 1)]
    held_id, held = generic(4, 12, ("outdoor_temperature",))
    assert held == "feedback"
    assert "strictness of outdoor_temperature: 2 -> 3" in explain(wh, 3)
    assert generic(5, 12, ("temperature",))[1] is None                        # another sensor: sent
    assert generic(6, 12, ("outdoor_temperature", "temperature"))[1] is None   # one of its sensors is not taught
    assert generic(10, 12, ("temperature",), severity="low")[1] == "feedback"  # the household as a whole: low
    # an adaptation logged before feedback was per sensor (sensor null) acts on the whole household
    # until the household's next label of the class, which recomputes it (to the household-wide level
    # the labels give: low severity only)
    wh.execute("insert into ops.alert_adaptations (adaptation_id, household_id, alert_class, sensor, kind, "
               "hour_of_day, old_value, new_value, feedback_id, reason, created_at) "
               "values (999, 'H1', 'sensor_health', null, 'strictness', null, 0, 3, 0, 'before version 10', now())")
    assert generic(7, 12, ("humidity",), kind="health")[1] == "feedback"
    record_label(wh, CFG, generic(8, 12, ("humidity",), kind="health")[0], "false")
    assert wh.execute("select new_value from ops.alert_adaptations where sensor is null and alert_class = "
                      "'sensor_health' order by adaptation_id desc limit 1").fetchone()[0] == 1
    assert generic(9, 12, ("door",), kind="health", severity="medium")[1] is None


def test_an_alert_about_several_sensors_shares_the_blame_and_a_day_long_false_alarm_makes_no_pattern(wh):
    def generic(n, hour, sensors, hours=0.5):
        incident(wh, f"g{n}", "H1", "anomaly", at(24 * n + hour), at(24 * n + hour + hours), severity="high",
                 sensors=sensors)
        data_until(wh, at(24 * n + hour + hours + 0.5))
        sync(wh, CFG)
        return wh.execute("select alert_id from ops.alerts where onset_at = ?", [at(24 * n + hour)]).fetchone()[0]

    per_sensor = "select sensor, new_value, reason from ops.alert_adaptations where kind = 'strictness' " \
                 "and sensor is not null order by adaptation_id"
    record_label(wh, CFG, generic(0, 3, ("rh_1", "rh_4")), "false")      # which of the two was the nuisance?
    assert wh.execute(per_sensor).fetchall() == []                         # half a label each: no sensor yet
    record_label(wh, CFG, generic(1, 9, ("rh_1", "rh_4")), "false")
    rows = wh.execute(per_sensor).fetchall()
    assert [(s, v) for s, v, _ in rows] == [("rh_1", 1), ("rh_4", 1)]
    assert "an alert about k sensors counts 1/k for each" in rows[0][2]
    # two false alarms of 13 hours starting near midnight: no routine of an hour, so no quiet
    # pattern (it would hold back everything starting then for a day), the strictness still counts
    for n in (2, 3):
        record_label(wh, CFG, generic(n, 0, ("t9",), hours=13), "false")
    assert wh.execute("select count(*) from ops.alert_adaptations where kind = 'quiet_pattern' and sensor = 't9'"
                      ).fetchone()[0] == 0
    assert wh.execute("select max(new_value) from ops.alert_adaptations where kind = 'strictness' and sensor = 't9'"
                      ).fetchone()[0] == 2
    for n in (4, 5):                                                        # as short: a pattern
        record_label(wh, CFG, generic(n, 0, ("t8",)), "false")
    assert wh.execute("select new_value from ops.alert_adaptations where kind = 'quiet_pattern' and sensor = 't8' "
                      "and hour_of_day = 0").fetchone()[0] == 30
