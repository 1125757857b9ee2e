"""Ingest sensor files (CSV or Parquet, long or wide) into the raw schema.

Every file is checked before anything is written; then all files load in one
transaction, each as one batch. The heavy work is DuckDB SQL over a staged copy of
the file: readings that parse, with a time within the limits (Limits), are inserted;
every row or cell that does not goes to raw.quarantine with its line number and the
reason. Readings the warehouse already holds (an export overlapping an earlier one) are
skipped, and a repeat within the file too; a repeat with another value is quarantined.
A file already ingested with the same bytes and options is skipped, so re-running an
ingest adds nothing.

A load that finds no usable reading, or quarantines more than Limits.max_quarantined of
what it reads, fails: ingest_files raises IngestFailed and no file of the call is loaded
(one command, one outcome), but the failed files' quarantined rows are kept in
raw.quarantine under the attempt's batch id (which raw.batches does not hold), to be
inspected; the next attempt at the same file replaces them. The same file with other
options (a --timestamp-format, say) is another load, so the corrected command loads.

The modules, in the order a file meets them: sniff and plan (checks and detection, before the
warehouse is opened), sql (expression builders), load (staging, inserts, quarantine),
outcome (success or a failure message with a hint). Names with a leading underscore are
private to this package.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from warehouse.connection import transaction, utcnow, writer
from warehouse.ingest.load import (
    IngestResult, _already_ingested, _drop_present, _drop_temp_tables, _duplicates, _households, _insert_readings,
    _parse, _quarantine, _record_batch, _register_column_map, _rn, _stage,
)
from warehouse.ingest.outcome import _failure
from warehouse.ingest.plan import (
    IngestError, Limits, _check_map, _delimiter_option, _key, _plan, _Plan, _probe, _stem, _timestamp_format,
    normalise_name,
)
from warehouse.ingest.homeassistant import Options as HAOptions
from warehouse.ingest.homeassistant import drop_temp_tables as drop_ha_tables
from warehouse.ingest.homeassistant import load_entities, parse_csv as parse_history, rules_key
from warehouse.ingest.recorder import RECORDER_HOUSEHOLD, load_recorder
from warehouse.ingest.sql import _lit, _timestamp

__all__ = ["IngestError", "IngestFailed", "IngestResult", "Limits", "ingest_files", "normalise_name"]


class IngestFailed(IngestError):
    """A load failed its outcome check (see the module doc); results holds every file's result."""

    def __init__(self, message: str, results: list[IngestResult]):
        super().__init__(message)
        self.results = results


class _Rollback(Exception):
    """Raised inside the load transaction to undo it when a file failed."""


def ingest_files(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    *,
    db=None,
    household: str | None = None,
    column_map: Mapping[str, str] | None = None,
    timestamp_column: str | None = None,
    timestamp_format: str | None = None,
    delimiter: str | None = None,
    limits: Limits | None = None,
    progress: Callable[[str], None] | None = None,
    entities: str | os.PathLike | None = None,
) -> list[IngestResult]:
    """Check every file, then load them all in one transaction; one result per file, in order.

    Raises IngestError (and writes nothing) when any file is missing, unreadable, empty,
    not CSV/Parquet, has no timestamp column, two columns that make one sensor, or when a
    --map source names nothing. Raises IngestFailed when a load fails (see the module doc).
    progress hears when each file starts loading, or why it is skipped; the caller reports
    what each result holds. limits: default Limits.from_env(). entities: a TOML file mapping
    Home Assistant entities to sensors (homeassistant.load_entities); Home Assistant history
    CSVs and recorder databases are read by homeassistant.py and recorder.py.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    progress = progress or (lambda _msg: None)
    limits = limits or Limits.from_env()
    column_map = {k.strip().lower(): v for k, v in (column_map or {}).items()}
    delimiter = _delimiter_option(delimiter)
    fmt = _timestamp_format(timestamp_format)
    rules, rules_household = load_entities(entities) if entities is not None else (None, None)
    ha_options = HAOptions(rules, rules_household, column_map)
    plans = [_plan(p, timestamp_column, delimiter, column_map) for p in paths]
    if not plans:
        return []
    if entities is not None and not any(p.layout in ("homeassistant", "recorder") for p in plans):
        raise IngestError(f"--entities {entities}: maps Home Assistant entities, but no file of the command is a "
                          "Home Assistant history CSV or recorder database; leave it out, or use --map")
    if all(p.layout == "wide" for p in plans):
        _check_map(plans, column_map, {})
    _probe(plans, fmt)
    for plan in plans:
        plan.ingest_key = _key(plan, fmt, household or _stem(plan.path), column_map, limits,
                               rules_key(rules, rules_household))
    with writer(db) as con:
        results, failed = _load_all(con, plans, household, column_map, fmt, limits, progress, ha_options)
        if failed:
            _keep_failed_quarantine(con, failed)
            raise IngestFailed("\n".join(r.failure for r in results if r.failure), results)
    return results


def _load_all(con, plans: list[_Plan], household: str | None, column_map: dict, fmt: str | None,
              limits: Limits, progress, ha_options: HAOptions) -> tuple[list[IngestResult], str | None]:
    """Load every plan in one transaction; when one fails, roll it all back and return the
    path of a Parquet copy of the failed files' quarantined rows."""
    results, long_sensors, seen = [], {}, {}
    spill = None
    try:
        with transaction(con):
            _register_column_map(con, column_map)
            for plan in plans:
                if plan.layout == "recorder":
                    progress(f"{plan.given}: reading {_size_text(plan.size)} ({plan.note})...")
                    results.append(load_recorder(con, plan, household or RECORDER_HOUSEHOLD, ha_options,
                                                 _bounds(limits), limits, progress))
                    long_sensors[plan.given] = plan.sensor_names  # its entity ids: what --map may name
                    continue
                done = _already_ingested(con, plan.content_hash, plan.ingest_key) or seen.get(plan.ingest_key)
                if done:
                    progress(f"{plan.given}: skipped, identical content already ingested with the same options "
                             f"as batch {done}")
                    results.append(IngestResult(str(plan.path), None, 0, 0, (), (), True, plan.layout))
                    continue
                seen[plan.ingest_key] = plan.batch_id
                note = f", {plan.note}" if plan.note else ""
                progress(f"{plan.given}: loading {_size_text(plan.size)} ({plan.layout} layout{note})...")
                results.append(_load(con, plan, household or _stem(plan.path), fmt, limits, long_sensors,
                                     ha_options, progress))
            con.execute("drop table if exists hw_column_map")
            _check_map(plans, column_map, long_sensors)
            failed = [r.attempt_id for r in results if r.failure]
            if failed:
                spill = Path(tempfile.mkdtemp(prefix="homewatch_ingest_")) / "quarantine.parquet"
                ids = ", ".join(_lit(b) for b in failed)
                con.execute(f"copy (select * from raw.quarantine where batch_id in ({ids})) "
                            f"to {_lit(str(spill))} (format parquet)")
                raise _Rollback
    except _Rollback:
        pass
    return results, spill and str(spill)


def _keep_failed_quarantine(con, spill: str) -> None:
    """Put the failed files' quarantined rows back after the rollback, replacing older attempts'."""
    try:
        with transaction(con):
            con.execute(f"delete from raw.quarantine where batch_id not in (select batch_id from raw.batches) "
                        f"and source_file in (select distinct source_file from read_parquet({_lit(spill)}))")
            con.execute(f"insert into raw.quarantine select * from read_parquet({_lit(spill)})")
    finally:
        Path(spill).unlink(missing_ok=True)
        Path(spill).parent.rmdir()


def _bounds(limits: Limits) -> dict:
    """The parameters of sql._plausible and sql._ts_problem for a load starting now."""
    started = utcnow()
    return {"earliest": limits.earliest, "latest": started + dt.timedelta(hours=limits.future_hours),
            "future_hours": f"{limits.future_hours:g}", "now": started}


def _load(con, plan: _Plan, default_household: str, fmt: str | None, limits: Limits,
          long_sensors: dict, ha_options: HAOptions, progress) -> IngestResult:
    """Load one checked file as one batch: readings, quarantined rows, and its raw.batches row;
    or, when it fails, only its quarantined rows (the caller rolls the rest back)."""
    started = utcnow()
    params = {"batch": plan.batch_id, "now": started}
    bounds = {"earliest": limits.earliest, "latest": started + dt.timedelta(hours=limits.future_hours),
              "future_hours": f"{limits.future_hours:g}", "now": started}
    _stage(con, plan)
    ts = _timestamp(con, plan, fmt)
    household, household_join = _households(con, plan, default_household)
    ha_found = None
    if plan.layout == "homeassistant":
        readings, problems, repeats, ha_found = parse_history(con, plan, ts, default_household, ha_options, bounds,
                                                              progress, _rn(plan))
        long_sensors[plan.given] = ha_found["ids"]
    else:
        readings, problems, repeats = _parse(con, plan, ts, household, household_join, bounds)
    if plan.layout == "long":
        long_sensors[plan.given] = [r[0] for r in con.execute("select raw from hw_sensor_map order by raw").fetchall()]
    counts = dict(zip(("repeated", "conflicting"), _duplicates(con, repeats)))
    counts["rows_quarantined"] = _quarantine(con, plan, params)
    failure = _failure(con, plan, ts, readings, problems, limits) if problems or not readings else None
    if failure:
        _drop_temp_tables(con)
        drop_ha_tables(con)
        return IngestResult(str(plan.path), None, 0, counts["rows_quarantined"], (), (), False, plan.layout,
                            failure=failure, attempt_id=plan.batch_id)
    counts.update(zip(("already_present", "replacing"), _drop_present(con)))
    inserted = _insert_readings(con, params)
    drop_ha_tables(con)
    missing = ha_found["missing"] if ha_found else 0
    if inserted[0] == 0 and counts["rows_quarantined"] == 0:
        _drop_temp_tables(con)  # every reading was already there: nothing to record
        return IngestResult(str(plan.path), None, 0, 0, (), (), False, plan.layout,
                            already_present=counts["already_present"], repeated=counts["repeated"], missing=missing)
    result = _record_batch(con, plan, started, inserted, counts, default_household, fmt)
    _drop_temp_tables(con)
    if ha_found:
        con.execute("update raw.batches set details = json_merge_patch(details, ?) where batch_id = ?",
                    [json.dumps(ha_found["details"]), plan.batch_id])
        result = dataclasses.replace(result, missing=missing)
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
