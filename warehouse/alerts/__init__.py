"""The alert loop: anomaly marts -> ops.alerts (one row per incident) -> outbox -> sinks, and
people's labels back into what is sent next. docs/alerts.md describes it; the modules:

- merge.py: detector rows of the marts merged into incidents
- store.py: ops.alerts kept in step (sync), status changes, snoozes, listing
- suppression.py: why an alert is not sent (stale, snooze, feedback, quiet hours, cooldown)
- outbox.py, sinks.py: exactly-once delivery to a JSON-lines file, a webhook, email
- feedback.py: labels, adaptation, explain, precision
- config.py: homewatch.toml
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from warehouse.alerts.config import AlertConfig, AlertConfigError, load_config  # noqa: F401
from warehouse.alerts.outbox import DeliveryResult, deliver
from warehouse.alerts.store import AlertError, SyncResult, sync  # noqa: F401


@dataclasses.dataclass
class StepResult:
    synced: SyncResult
    delivered: DeliveryResult

    def summary(self) -> str:
        return f"{self.synced.summary()}; {self.delivered.summary()}"


def sync_and_deliver(db, config: AlertConfig, *, default_file: Path, as_of: dt.datetime | None = None,
                     sinks: dict | None = None) -> StepResult:
    """The batch job's alert step: sync ops.alerts with the marts (alerts and outbox in one
    transaction), then send what the outbox holds. A sink that fails leaves its rows pending
    for the next run; it does not fail the step."""
    from warehouse.connection import writer

    with writer(db) as con:
        synced = sync(con, config, as_of=as_of)
        delivered = deliver(con, config, default_file=default_file, sinks=sinks)
    return StepResult(synced, delivered)
