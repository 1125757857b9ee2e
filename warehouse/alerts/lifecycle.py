"""The pieces of an alert's lifecycle that store.py and feedback.py both use: reading an
alert, logging a change, queueing it for the sinks, and a status change inside a transaction.
A leaf of the alerts package (it imports neither store nor feedback)."""
from __future__ import annotations

import datetime as dt
import json

from warehouse.alerts.config import AlertConfig
from warehouse.errors import WarehouseError

STATUSES = ("open", "acknowledged", "resolved", "dismissed")
ACTIONS = {  # action -> (new status, statuses it may follow, timestamp column)
    "ack": ("acknowledged", ("open",), "acknowledged_at"),
    "resolve": ("resolved", ("open", "acknowledged"), "resolved_at"),
    "dismiss": ("dismissed", ("open", "acknowledged"), "dismissed_at"),
    "reopen": ("open", ("acknowledged", "resolved", "dismissed"), None),
}
CHANGE_OF = {"ack": "acknowledged", "resolve": "resolved", "dismiss": "dismissed", "reopen": "reopened"}
COLUMNS = ("alert_id", "household_id", "alert_class", "anomaly_class", "onset_at", "end_at", "severity", "detectors",
           "sources", "sensors", "observed_value", "expected_value", "evidence", "status", "suppressed_by", "version",
           "created_at", "updated_at", "acknowledged_at", "resolved_at", "dismissed_at", "status_note")


class AlertError(WarehouseError):
    """A request about an alert that cannot be done (unknown id, a status change not allowed)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def alert(con, alert_id: int) -> dict:
    row = con.execute(f"select {', '.join(COLUMNS)} from ops.alerts where alert_id = ?", [alert_id]).fetchone()
    if row is None:
        raise AlertError(f"no alert {alert_id}: `homewatch alerts` lists them")
    return dict(zip(COLUMNS, row))


def _payload(row: dict, change: str) -> dict:
    body = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}
    return {"delivery_id": f"{row['alert_id']}:{row['version']}", "change": change, "alert": body}


def enqueue(con, config: AlertConfig, alert_id: int, change: str) -> int:
    """One outbox row per configured sink for the alert's current version; call inside the
    transaction that made the change. Returns the rows written."""
    row = alert(con, alert_id)
    payload = json.dumps(_payload(row, change), sort_keys=True)
    for sink in config.sinks():
        con.execute("insert into ops.alert_outbox (delivery_id, sink, alert_id, version, change, payload, created_at) "
                    "values (?, ?, ?, ?, ?, ?, ?) on conflict do nothing",
                    [f"{alert_id}:{row['version']}", sink, alert_id, row["version"], change, payload, utcnow()])
    return len(config.sinks())


def log_change(con, alert_id: int, version: int, change: str, detail: str | None, at: dt.datetime) -> None:
    con.execute("insert into ops.alert_changes values (?, ?, ?, ?, ?)", [alert_id, version, change, at, detail])


def set_status_in_transaction(con, config: AlertConfig, alert_id: int, action: str, note: str | None) -> None:
    """The status change of store.set_status, inside the caller's transaction (no feedback)."""
    status, allowed, column = ACTIONS[action]
    row = alert(con, alert_id)
    if row["status"] not in allowed:
        raise AlertError(f"alert {alert_id} is {row['status']}: it cannot be {CHANGE_OF[action]} "
                         f"(only an alert that is {' or '.join(allowed)})")
    now = utcnow()
    sets = {"status": status, "status_note": note, "updated_at": now, "version": row["version"] + 1}
    if column:
        sets[column] = now
    con.execute(f"update ops.alerts set {', '.join(f'{k} = ?' for k in sets)} where alert_id = ?",
                [*sets.values(), alert_id])
    log_change(con, alert_id, sets["version"], CHANGE_OF[action], note, now)
    if row["suppressed_by"] is None:
        enqueue(con, config, alert_id, CHANGE_OF[action])
