"""Send what ops.alert_outbox holds, each row at most once per successful send.

A row is marked delivered only after its sink accepted it (a separate, committed update per
row). A process killed between the two re-sends that row on the next run, never loses it; the
file sink then finds the id it already wrote and adds nothing, and the webhook and email
receivers get the delivery id to drop the duplicate (sinks.py). Within a sink, rows go out in
the order they were queued; after a row fails, the sink's later rows wait for the next run, so
a receiver never sees version 3 of an alert before version 2.
"""
from __future__ import annotations

import dataclasses

from warehouse.alerts.config import AlertConfig
from warehouse.alerts.lifecycle import utcnow
from warehouse.alerts.sinks import DeliveryError, Email, FileJsonLines, Webhook
from warehouse.failpoints import failpoint


@dataclasses.dataclass
class DeliveryResult:
    sent: dict[str, int] = dataclasses.field(default_factory=dict)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)   # sink -> first error
    pending: int = 0                                                   # rows still to send

    def summary(self) -> str:
        sent = ", ".join(f"{n} to {s}" for s, n in sorted(self.sent.items())) or "nothing new"
        text = f"delivered {sent}"
        if self.failed:
            text += "; failed: " + "; ".join(f"{s}: {e}" for s, e in sorted(self.failed.items()))
        if self.pending:
            text += f"; {self.pending} message(s) wait for the next run"
        return text


def open_sinks(config: AlertConfig, default_file) -> dict:
    sinks = {}
    if config.file is not None:
        sinks["file"] = FileJsonLines(config.file, default_file)
    if config.webhook is not None:
        sinks["webhook"] = Webhook(config.webhook)
    if config.email is not None:
        sinks["email"] = Email(config.email)
    return sinks


def deliver(con, config: AlertConfig, *, default_file, sinks: dict | None = None) -> DeliveryResult:
    """Send every pending outbox row to its sink (see the module doc)."""
    result = DeliveryResult()
    try:
        sinks = sinks if sinks is not None else open_sinks(config, default_file)
    except DeliveryError as exc:
        result.failed["config"] = str(exc)
        sinks = {}
    rows = con.execute("select delivery_id, sink, payload::varchar from ops.alert_outbox where delivered_at is null "
                       "order by created_at, alert_id, version, sink").fetchall()
    blocked: set[str] = set()
    for delivery_id, sink_name, body in rows:
        sink = sinks.get(sink_name)
        if sink is None or sink_name in blocked:
            result.pending += 1
            if sink is None:
                result.failed.setdefault(sink_name, "not configured now: its rows wait in ops.alert_outbox")
            continue
        try:
            sink.send(delivery_id, body)
        except DeliveryError as exc:
            con.execute("update ops.alert_outbox set attempts = attempts + 1, last_error = ? "
                        "where delivery_id = ? and sink = ?", [str(exc)[:500], delivery_id, sink_name])
            result.failed.setdefault(sink_name, str(exc))
            blocked.add(sink_name)
            result.pending += 1
            continue
        failpoint("alerts.after_send")       # sent, not yet marked: the re-run re-sends this one
        con.execute("update ops.alert_outbox set attempts = attempts + 1, last_error = null, "
                    "delivered_at = ? where delivery_id = ? and sink = ?", [utcnow(), delivery_id, sink_name])
        result.sent[sink_name] = result.sent.get(sink_name, 0) + 1
        failpoint(f"alerts.delivered.{result.sent[sink_name]}")   # killed part-way through a run
    return result
