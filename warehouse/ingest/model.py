"""What every ingest module shares: the error, the limits a load accepts, the plan of one file,
and how a column name becomes a sensor name. A leaf module (it imports no other ingest module),
so the readers of each kind of file can use it without import cycles."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import unicodedata
from pathlib import Path

from warehouse.connection import WarehouseError

# Limits on what a load accepts; each is an option of `homewatch ingest` with its default
# taken from the environment variable named here.
EARLIEST_ENV, FUTURE_ENV, SHARE_ENV = ("HOMEWATCH_INGEST_EARLIEST", "HOMEWATCH_INGEST_FUTURE_HOURS",
                                       "HOMEWATCH_INGEST_MAX_QUARANTINED")
DEFAULT_EARLIEST = dt.datetime(2000, 1, 1)  # readings stamped before this are quarantined
DEFAULT_FUTURE_HOURS = 24.0  # ... and those stamped this long after the ingest (clock skew, time zones)
DEFAULT_MAX_QUARANTINED = 0.5  # a load quarantining more than this share of what it read fails


def ingest_future_hours() -> float:
    """How far after the ingest a reading may be stamped: $HOMEWATCH_INGEST_FUTURE_HOURS, else the
    default (the quality checks use the same, so what ingest accepts never stops a batch)."""
    try:
        return float(os.environ.get(FUTURE_ENV) or DEFAULT_FUTURE_HOURS)
    except ValueError:
        return DEFAULT_FUTURE_HOURS


class IngestError(WarehouseError):
    """A file cannot be ingested; nothing was written (raw.quarantine aside, see ingest_files)."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a load accepts: the reading times, and the share it may quarantine before it fails."""

    earliest: dt.datetime = DEFAULT_EARLIEST
    future_hours: float = DEFAULT_FUTURE_HOURS
    max_quarantined: float = DEFAULT_MAX_QUARANTINED

    @classmethod
    def from_env(cls, earliest=None, future_hours=None, max_quarantined=None) -> Limits:
        """The given values, else the environment's ($HOMEWATCH_INGEST_*), else the defaults."""
        def pick(value, env, default, parse):
            if value is not None:
                return value
            text = os.environ.get(env, "").strip()
            if not text:
                return default
            try:
                return parse(text)
            except ValueError:
                raise IngestError(f"${env} is {text!r}, not a valid setting") from None
        limits = cls(pick(earliest, EARLIEST_ENV, DEFAULT_EARLIEST, dt.datetime.fromisoformat),
                     float(pick(future_hours, FUTURE_ENV, DEFAULT_FUTURE_HOURS, float)),
                     float(pick(max_quarantined, SHARE_ENV, DEFAULT_MAX_QUARANTINED, float)))
        if isinstance(limits.earliest, dt.date) and not isinstance(limits.earliest, dt.datetime):
            limits = dataclasses.replace(limits, earliest=dt.datetime.combine(limits.earliest, dt.time()))
        if limits.future_hours < 0:
            raise IngestError(f"the future tolerance must be 0 hours or more, got {limits.future_hours}")
        if not 0 <= limits.max_quarantined <= 1:
            raise IngestError(f"the quarantined share must be between 0 and 1, got {limits.max_quarantined}")
        return limits


@dataclasses.dataclass
class _Plan:
    """What validation learned about one file; columns are staged as c0..cN."""

    given: str
    path: Path
    fmt: str  # 'csv' or 'parquet'
    names: list[str]  # column names as in the file
    types: list[str]  # DuckDB types ('VARCHAR' for every CSV column)
    delimiter: str | None = None  # CSV only
    encoding: str = "utf-8"  # CSV only
    layout: str = ""  # 'long', 'wide', 'homeassistant' (history CSV) or 'recorder' (database)
    ts: int = -1
    household: int | None = None
    sensor: int | None = None  # long layout
    value: int | None = None  # long layout
    sensor_cols: list[int] = dataclasses.field(default_factory=list)  # wide layout
    content_hash: str = ""  # sha256 of the bytes
    ingest_key: str = ""  # sha256 of the bytes and the options that change the result, see _key
    compression: str | None = None  # 'gzip' when the bytes are gzip, whatever the name
    note: str = ""  # what sniffing found, for messages ("gzip-compressed", "UTF-16")
    sensor_names: list[str] = dataclasses.field(default_factory=list)  # wide: stored name per sensor_cols
    size: int = 0  # bytes on disk, for progress messages
    lines: int | None = None  # physical lines in a plain CSV, for exact line numbers
    row_base: int = 0  # rowid of the first staged CSV row

    @property
    def batch_id(self) -> str:
        return f"file-{self.ingest_key[:12]}"


def normalise_name(name: str) -> str:
    """Lower-case; runs of anything but letters and digits (of any script) become '_'; no
    leading or trailing '_'. 'Température (°C)' -> 'température_c'; sql._sensor_sql is the same in SQL."""
    return re.sub(r"[\W_]+", "_", unicodedata.normalize("NFC", name).lower()).strip("_")
