"""Alerts from real marts: the tiny warehouse replayed in two batches gives the alerts one
sync gives (an incident across the boundary updates its alert), and the batch job syncs and
delivers them as a recorded step."""
from __future__ import annotations

import datetime as dt
import json
import shutil

from tests.conftest import query
from warehouse.alerts import sync
from warehouse.alerts.config import AlertConfig
from warehouse.connection import writer

SPAN = "select household_id, alert_class, onset_at, end_at, sources from ops.alerts order by all"


def _copy(db, tmp_path, name):
    target = tmp_path / name
    shutil.copy(db, target)
    return target


def test_two_batches_give_the_alerts_of_one_and_every_detector_row_is_in_one_alert(built_db, tmp_path):
    once = _copy(built_db, tmp_path, "once.duckdb")
    with writer(once) as con:
        sync(con, AlertConfig())
        longest = con.execute("select onset_at, end_at from ops.alerts order by end_at - onset_at desc limit 1").fetchone()
    cut = longest[0] + (longest[1] - longest[0]) / 2       # the second batch continues this incident
    twice = _copy(built_db, tmp_path, "twice.duckdb")
    with writer(twice) as con:
        first = sync(con, AlertConfig(), as_of=cut)
        n_first = con.execute("select count(*) from ops.alerts").fetchone()[0]
        crossing = con.execute("select alert_id, end_at from ops.alerts where onset_at = ?", [longest[0]]).fetchall()
        second = sync(con, AlertConfig())
    assert first.opened + first.held_back == n_first and len(crossing) == 1 and crossing[0][1] <= cut
    assert second.changed + second.updated >= 1
    assert query(twice, SPAN) == query(once, SPAN)          # the same alerts, none twice
    assert query(twice, "select end_at from ops.alerts where alert_id = ?", [crossing[0][0]])[0][0] == longest[1]
    sources = query(once, "select unnest(sources) from ops.alerts")
    marts = query(once, "select 'rules:' || event_id from marts.fct_anomaly_events where event_kind = 'anomaly' "
                        "union all select 'generic:' || incident_id from marts.fct_incidents")
    assert len(sources) == len(set(sources)) and sorted(sources) == sorted(marts)


def test_the_batch_job_syncs_and_delivers_the_alerts(batched):
    db, reports = batched
    run = query(db, "select status, message from ops.job_runs order by started_at desc limit 1")[0]
    assert run[0] == "succeeded" and "alerts: " in run[1]
    delivered = query(db, "select delivery_id from ops.alert_outbox where sink = 'file' and delivered_at is not null")
    lines = [json.loads(line) for line in (reports / "alerts.jsonl").read_text().splitlines()]
    assert sorted(m["delivery_id"] for m in lines) == sorted(r[0] for r in delivered) and lines
    sources = query(db, "select unnest(sources) from ops.alerts")
    classified = query(db, "select 'classifier:' || anomaly_id from marts.fct_classified_anomalies")
    assert classified and set(classified) <= set(sources) and len(sources) == len(set(sources))
    assert not query(db, "select * from ops.alert_outbox where delivered_at is null")
    assert isinstance(query(db, "select max(onset_at) from ops.alerts")[0][0], dt.datetime)
    assert "<h2>Alerts and feedback</h2>" in (reports / "anomalies.html").read_text()
