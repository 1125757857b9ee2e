"""Which batch a check looks at, and the bounds every query of the check stays within."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

from expectations import config
from warehouse.connection import WarehouseError


@dataclasses.dataclass(frozen=True)
class Batch:
    """One row of raw.batches, with the span its readings actually cover (future-stamped ones aside)."""

    batch_id: str
    source: str  # 'simulator' or 'file'
    landed_at: dt.datetime  # raw.batches.finished_at
    n_readings: int
    first_reading_at: dt.datetime | None
    last_reading_at: dt.datetime | None
    clock_at: dt.datetime  # "now" for this batch: the simulated period's end, else when it was landed

    @property
    def is_empty(self) -> bool:
        """No readings, or none stamped in the past: nothing to bound a window with."""
        return self.n_readings == 0 or self.last_reading_at is None


def newest_batch_id(con) -> str:
    """The batch landed last; WarehouseError when there is none."""
    rows = con.execute("select batch_id from raw.batches order by finished_at desc, batch_id desc limit 1").fetchall()
    if not rows:
        raise WarehouseError("the warehouse holds no batches: run `homewatch simulate` or `homewatch ingest FILE` first")
    return rows[0][0]


def load_batch(con, batch_id: str | None = None) -> Batch:
    """The named batch, or the newest; an unknown id is an error that lists recent ones."""
    batch_id = batch_id or newest_batch_id(con)
    rows = con.execute("select source, source_ref, finished_at from raw.batches where batch_id = ?", [batch_id]).fetchall()
    if not rows:
        recent = [r[0] for r in con.execute(
            "select batch_id from raw.batches order by finished_at desc limit 5").fetchall()]
        raise WarehouseError(f"no batch {batch_id!r} in raw.batches; recent batches: {', '.join(recent) or 'none'}")
    source, source_ref, landed_at = rows[0]
    # Future-stamped readings fail their own check; they must not stretch the batch's span too.
    n, first, last = con.execute(
        "select count(*), min(reading_at) filter (where not future), max(reading_at) filter (where not future) "
        "from (select reading_at, reading_at > ingested_at + to_minutes(?) as future from raw.readings "
        "where batch_id = ?)", [config.FUTURE_TOLERANCE_MINUTES, batch_id]
    ).fetchall()[0]
    return Batch(batch_id, source, landed_at, n, first, last, _clock(source, source_ref, landed_at))


def _clock(source: str, source_ref: str, landed_at: dt.datetime) -> dt.datetime:
    """Simulated homes replay a past year, so their batch is judged at the simulated period's end."""
    if source != "simulator":
        return landed_at
    try:
        ref = json.loads(source_ref)
        return dt.datetime.fromisoformat(ref["start"]) + dt.timedelta(days=int(ref["days"]))
    except (ValueError, KeyError, TypeError):
        return landed_at
