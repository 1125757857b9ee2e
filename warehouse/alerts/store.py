"""ops.alerts: one row per incident, kept in step with the anomaly marts by `sync`, changed by
people through `set_status` and `snooze`. Every change that reaches a person bumps the alert's
version and writes one ops.alert_outbox row per configured sink in the same transaction
(outbox.py sends them). See docs/alerts.md for the lifecycle.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

from warehouse.alerts import suppression
from warehouse.alerts.config import AlertConfig
from warehouse.alerts.feedback import current_adaptations, record_label
from warehouse.alerts.lifecycle import (  # noqa: F401 - re-exported
    ACTIONS, CHANGE_OF, COLUMNS, STATUSES, AlertError, alert, log_change, enqueue, set_status_in_transaction, utcnow)
from warehouse.alerts.merge import HIGH_CLASSES, SEVERITIES, Cluster, cluster, compatible, load_candidates
from warehouse.dbhelpers import has_table, transaction
from warehouse.failpoints import failpoint


@dataclasses.dataclass
class SyncResult:
    opened: int = 0        # new alerts sent
    held_back: int = 0     # new alerts stored, not sent (suppressed_by says why)
    changed: int = 0       # existing alerts with a change that is sent (escalated, corroborated, reopened)
    updated: int = 0       # existing alerts whose span or sources moved (stored, not sent)
    queued: int = 0        # outbox rows written

    def summary(self) -> str:
        return (f"{self.opened} new alert(s) to send, {self.held_back} held back, {self.changed} changed, "
                f"{self.updated} updated quietly; {self.queued} message(s) queued")


def _context(con, config: AlertConfig, as_of: dt.datetime | None) -> suppression.Context:
    data_now = as_of or con.execute("select max(reading_at) from raw.readings").fetchone()[0] or utcnow()
    zones = dict(con.execute("select household_id, timezone from raw.households").fetchall()) \
        if has_table(con, "raw", "households") else {}
    snoozes = con.execute("select household_id, sensor, from_at, until_at from ops.alert_snoozes").fetchall()
    strictness, patterns, gates = current_adaptations(con)
    last = dict(((h, c), e) for h, c, e in con.execute(
        "select household_id, alert_class, max(end_at) from ops.alerts where suppressed_by is null group by all"
    ).fetchall())
    return suppression.Context(config, data_now, zones, snoozes, strictness, patterns, last, gates)


def _match(existing: dict[str, list[dict]], c: Cluster, gap: dt.timedelta) -> dict | None:
    """The stored alert this cluster continues: same household, compatible class, spans that
    overlap or touch within the merge gap (the earliest if several)."""
    for row in existing.get(c.household_id, []):
        if compatible(row["alert_class"], c.alert_class) \
                and row["onset_at"] <= c.end_at + gap and c.onset_at <= row["end_at"] + gap:
            return row
    return None


def sync(con, config: AlertConfig, *, as_of: dt.datetime | None = None) -> SyncResult:
    """Bring ops.alerts in step with the marts, in one transaction with the outbox rows of what
    is to be sent. Re-running it with the same marts changes nothing. `as_of`: see
    merge.load_candidates."""
    gap = dt.timedelta(minutes=config.alerts.merge_gap_minutes)
    clusters = cluster(load_candidates(con, as_of), gap)
    result = SyncResult()
    with transaction(con):
        ctx = _context(con, config, as_of)
        existing: dict[str, list[dict]] = {}      # household -> its alerts, by onset
        for r in con.execute(f"select {', '.join(COLUMNS)} from ops.alerts order by onset_at, alert_id").fetchall():
            existing.setdefault(r[1], []).append(dict(zip(COLUMNS, r)))
        next_id = (con.execute("select coalesce(max(alert_id), 0) from ops.alerts").fetchone()[0]) + 1
        for c in clusters:
            row = _match(existing, c, gap)
            if row is None:
                row = _open(con, config, c, ctx, next_id, result)
                existing.setdefault(c.household_id, []).append(row)
                next_id += 1
            else:
                _continue(con, config, row, c, ctx, result)
        failpoint("alerts.sync_in_transaction")
    return result


def _fields(c: Cluster) -> dict:
    observed, expected, line = c.evidence()
    return {"alert_class": c.alert_class, "anomaly_class": c.anomaly_class, "onset_at": c.onset_at,
            "end_at": c.end_at, "severity": c.severity, "detectors": c.detectors, "sources": c.sources,
            "sensors": c.sensors, "observed_value": observed, "expected_value": expected, "evidence": line}


def _open(con, config, c: Cluster, ctx, alert_id: int, result: SyncResult) -> dict:
    now = utcnow()
    why = suppression.reason(c, ctx)
    row = {"alert_id": alert_id, "household_id": c.household_id, **_fields(c), "status": "open",
           "suppressed_by": why, "version": 1, "created_at": now, "updated_at": now, "acknowledged_at": None,
           "resolved_at": None, "dismissed_at": None, "status_note": None}
    con.execute(f"insert into ops.alerts ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})",
                [row[k] for k in COLUMNS])
    log_change(con, alert_id, 1, "opened", f"held back: {why}" if why else None, now)
    if why:
        result.held_back += 1
    else:
        result.opened += 1
        result.queued += enqueue(con, config, alert_id, "opened")
        key = (c.household_id, c.alert_class)
        ctx.last_sent_end[key] = max(ctx.last_sent_end.get(key, c.end_at), c.end_at)
    return row


def _as_cluster(household: str, fields: dict) -> SimpleNamespace:
    """A stored alert's merged fields with the attributes of a Cluster that suppression.reason reads."""
    return SimpleNamespace(household_id=household, **{k: fields[k] for k in (
        "alert_class", "onset_at", "end_at", "detectors", "sensors", "severity")})


def _continue(con, config, row: dict, c: Cluster, ctx, result: SyncResult) -> None:
    """Update a stored alert with what the detectors see now. A change a person should hear of
    (escalated, corroborated by another detector, reclassified) bumps the version and is queued,
    unless the alert was held back or closed; a held-back alert no reason holds back any more
    is sent ('opened'); a closed fire that goes on is reopened."""
    new = _fields(c)
    new["onset_at"] = min(row["onset_at"], c.onset_at)
    new["end_at"] = max(row["end_at"], c.end_at)
    new["sources"] = sorted(set(row["sources"]) | set(c.sources))
    new["detectors"] = sorted(set(row["detectors"]) | set(c.detectors))
    new["sensors"] = sorted(set(row["sensors"] or []) | set(c.sensors))
    if SEVERITIES.index(row["severity"]) > SEVERITIES.index(new["severity"]):
        new["severity"] = row["severity"]      # an alert never de-escalates
    if row["alert_class"] != "sensor_anomaly" and new["alert_class"] == "sensor_anomaly":
        new["alert_class"], new["anomaly_class"] = row["alert_class"], row["anomaly_class"]
    if all(new[k] == row[k] for k in new):
        return
    now = utcnow()
    notes = []
    if new["severity"] != row["severity"]:
        notes.append(("escalated", f"severity {row['severity']} -> {new['severity']}"))
    if new["alert_class"] != row["alert_class"]:
        notes.append(("reclassified", f"class {row['alert_class']} -> {new['alert_class']}"))
    added = sorted(set(new["detectors"]) - set(row["detectors"]))
    if added:
        notes.append(("corroborated", f"also seen by {', '.join(added)}"))
    sets = dict(new, updated_at=now)
    loud = bool(notes) and row["status"] in ("open", "acknowledged") and row["suppressed_by"] is None
    change = notes[0][0] if notes else "updated"
    if row["suppressed_by"] is not None and row["status"] in ("open", "acknowledged") \
            and suppression.reason(_as_cluster(row["household_id"], new), ctx) is None:
        loud, change = True, "opened"      # held back so far; what it is now is worth sending
        sets["suppressed_by"] = None
    elif new["alert_class"] in HIGH_CLASSES and row["status"] in ("resolved", "dismissed"):
        loud, change = True, "reopened"    # a fire that goes on after it was closed
        sets["status"] = "open"
    if loud:
        sets["version"] = row["version"] + 1
    con.execute(f"update ops.alerts set {', '.join(f'{k} = ?' for k in sets)} where alert_id = ?",
                [*sets.values(), row["alert_id"]])
    row.update(sets)
    detail = "; ".join(n[1] for n in notes) or f"now {new['onset_at']} to {new['end_at']}"
    log_change(con, row["alert_id"], row["version"], change, detail, now)
    if loud:
        result.changed += 1
        result.queued += enqueue(con, config, row["alert_id"], change)
    else:
        result.updated += 1


def set_status(con, config: AlertConfig, alert_id: int, action: str, note: str | None = None) -> dict:
    """ack / resolve / dismiss / reopen an alert, log it and queue the change for the sinks, in
    one transaction (a dismiss is also a `false` label: feedback.py). AlertError when the alert
    is unknown or the change is not allowed."""
    with transaction(con):
        set_status_in_transaction(con, config, alert_id, action, note)
        if action == "dismiss":
            record_label(con, config, alert_id, "false", note=note, source="dismiss", in_transaction=True)
        return alert(con, alert_id)


def snooze(con, household: str, until: dt.datetime, *, sensor: str | None = None,
           from_at: dt.datetime | None = None, note: str | None = None) -> int:
    """Hold back the household's (or one sensor's) new alerts with an onset before `until`."""
    if from_at is not None and from_at >= until:
        raise AlertError(f"a snooze from {from_at} until {until} covers nothing: --from must be before --until")
    with transaction(con):
        known = con.execute("select count(*) from raw.households where household_id = ?", [household]).fetchone()[0]
        if not known:
            raise AlertError(f"no household {household!r} in this warehouse (raw.households)")
        snooze_id = con.execute("select coalesce(max(snooze_id), 0) + 1 from ops.alert_snoozes").fetchone()[0]
        con.execute("insert into ops.alert_snoozes values (?, ?, ?, ?, ?, ?, ?)",
                    [snooze_id, household, sensor, from_at, until, utcnow(), note])
    return snooze_id


def list_alerts(con, *, status: str | None = None, household: str | None = None, alert_class: str | None = None,
                since: dt.datetime | None = None, limit: int | None = None):
    """Alerts newest onset first, as a DataFrame, filtered by the given fields."""
    where, params = [], []
    for column, value in (("status", status), ("household_id", household), ("alert_class", alert_class)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("end_at >= ?")
        params.append(since)
    sql = ("select alert_id, household_id, alert_class, severity, status, onset_at, end_at, detectors, "
           "coalesce(suppressed_by, 'sent') as sent, evidence from ops.alerts"
           + (" where " + " and ".join(where) if where else "") + " order by onset_at desc, alert_id desc"
           + (f" limit {int(limit)}" if limit else ""))
    return con.execute(sql, params).df()
