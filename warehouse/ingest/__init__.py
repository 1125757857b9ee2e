"""Ingest sensor files (CSV or Parquet, long or wide) into the raw schema.

Every file is checked before anything is written; then all files load in one
transaction, each as one batch. The heavy work is DuckDB SQL over a staged copy of
the file: readings that parse are inserted, every row or cell that does not goes to
raw.quarantine with its line number and the reason. A file whose bytes were already
ingested (same sha256) is skipped, so re-running an ingest adds nothing.

The modules, in the order a file meets them: plan (checks and detection, before the
warehouse is opened), sql (expression builders), load (staging, inserts, quarantine).
Names with a leading underscore are private to this package.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

from warehouse.connection import transaction, utcnow, writer
from warehouse.ingest.load import (
    IngestResult, _already_ingested, _drop_temp_tables, _households, _load_long, _load_wide, _quarantine,
    _record_batch, _register_column_map, _stage,
)
from warehouse.ingest.plan import IngestError, _delimiter_option, _plan, _Plan, _probe, _stem, normalise_name
from warehouse.ingest.sql import _timestamp

__all__ = ["IngestError", "IngestResult", "ingest_files", "normalise_name"]


def ingest_files(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    *,
    db=None,
    household: str | None = None,
    column_map: Mapping[str, str] | None = None,
    timestamp_column: str | None = None,
    timestamp_format: str | None = None,
    delimiter: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[IngestResult]:
    """Check every file, then load them all in one transaction; one result per file, in order.

    Raises IngestError (and writes nothing) when any file is missing, unreadable, empty,
    not CSV/Parquet, or has no timestamp column. progress hears when each file starts
    loading, or why it is skipped; the caller reports what each result holds.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    progress = progress or (lambda _msg: None)
    column_map = {k.strip().lower(): v for k, v in (column_map or {}).items()}
    delimiter = _delimiter_option(delimiter)
    plans = [_plan(p, timestamp_column, delimiter) for p in paths]
    if not plans:
        return []
    _probe(plans, timestamp_format)
    results = []
    with writer(db) as con:
        with transaction(con):
            _register_column_map(con, column_map)
            seen: dict[str, str] = {}
            for plan in plans:
                done = _already_ingested(con, plan.content_hash) or seen.get(plan.content_hash)
                if done:
                    progress(f"{plan.given}: skipped, identical content already ingested as batch {done}")
                    results.append(IngestResult(str(plan.path), None, 0, 0, (), (), True, plan.layout))
                    continue
                seen[plan.content_hash] = plan.batch_id
                progress(f"{plan.given}: loading {_size_text(plan.size)} ({plan.layout} layout)...")
                results.append(_load(con, plan, household or _stem(plan.path), timestamp_format))
            con.execute("drop table if exists hw_column_map")
    return results


def _load(con, plan: _Plan, default_household: str, fmt: str | None) -> IngestResult:
    """Load one checked file as one batch: readings, quarantined rows, and its raw.batches row."""
    started = utcnow()
    params = {"batch": plan.batch_id, "now": started}
    _stage(con, plan)
    ts = _timestamp(con, plan, fmt)
    household, household_join = _households(con, plan, default_household)
    if plan.layout == "long":
        _load_long(con, plan, ts, household, household_join, params)
    else:
        _load_wide(con, plan, ts, household, household_join, params)
    quarantined = _quarantine(con, plan, params)
    result = _record_batch(con, plan, started, quarantined, default_household, fmt)
    _drop_temp_tables(con)
    return result


def _size_text(size: int) -> str:
    """A file size for people: '812 bytes', '4.2 KB', '382 MB' (powers of 1024)."""
    units = ("bytes", "KB", "MB", "GB", "TB")
    n, unit = float(size), 0
    while n >= 1024 and unit < len(units) - 1:
        n, unit = n / 1024, unit + 1
    if unit == 0:
        return f"{size} bytes"
    return f"{n:.1f} {units[unit]}" if n < 10 else f"{n:.0f} {units[unit]}"
