"""`homewatch check`: validate one batch with every suite, store the results, write the report.

Reading and writing are separate: the frames are computed on a short read-only connection,
Great Expectations runs with no connection open, and the results are written in one
transaction, so a failed check leaves dq.* as it was.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from expectations import config, model_frames, profiles
from expectations.batches import Batch, load_batch
from expectations.reference import (Reference, compute_reference, current_values, drift_window, household_frame,
                                    store_reference)
from warehouse.connection import reader, transaction, utcnow, writer


@dataclasses.dataclass
class Frames:
    """Everything the suites validate for one batch: small frames, computed in SQL."""

    batch: Batch
    profile: pd.DataFrame
    days: pd.DataFrame
    summary: pd.DataFrame
    features: pd.DataFrame | None
    predictions: pd.DataFrame | None
    reference: Reference | None
    drift_values: pd.DataFrame | None
    households: pd.DataFrame | None
    drift_reason: str


@dataclasses.dataclass
class CheckResult:
    run_id: str
    batch_id: str
    results: list  # expectations.validate.Result
    reference_id: str | None
    started_at: dt.datetime
    finished_at: dt.datetime
    report_path: Path | None = None

    def failed(self, severity: str) -> list:
        return [r for r in self.results if r.failed and r.severity == severity]

    @property
    def passed(self) -> bool:
        """No critical expectation failed: the scoring gate lets this batch through."""
        return not self.failed(config.CRITICAL)

    @property
    def not_evaluated(self) -> list:
        return [r for r in self.results if r.success is None]

    def summary(self) -> str:
        """What a person needs: the verdict, then every failure with observed value and threshold."""
        critical, warn = self.failed(config.CRITICAL), self.failed(config.WARN)
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"batch {self.batch_id}: {verdict} ({len(self.results)} expectations: "
                 f"{len(critical)} critical failures, {len(warn)} warnings, {len(self.not_evaluated)} not evaluated; "
                 f"run {self.run_id})"]
        for r in critical + warn + self.not_evaluated:
            label = "not evaluated" if r.success is None else r.severity.upper()
            column = f" [{r.column}]" if r.column else ""
            expected = f"; expected {r.threshold}" if r.threshold else ""
            lines.append(f"  {label:<13} {r.suite}: {r.expectation}{column}: {r.observed}{expected}")
        return "\n".join(lines)


def collect_frames(con, batch: Batch, progress: Callable[[str], None]) -> Frames:
    """Run the SQL that bounds each suite's input; nothing here loads the warehouse whole."""
    limit = os.environ.get(config.MEMORY_ENV) or config.DEFAULT_MEMORY
    con.execute(f"set memory_limit = '{limit.replace(chr(39), '')}'")  # DuckDB spills beyond it
    profile = profiles.readings_profile(con, batch)
    days = profiles.days_profile(con, batch)
    summary = profiles.batch_summary(con, batch, days, profile)
    progress(f"raw profile: {len(profile):,} household-sensor-days, {len(days):,} household-days")
    features = model_frames.features_frame(con, batch)
    predictions = model_frames.predictions_frame(con, batch)
    window = drift_window(batch)
    reference = compute_reference(con, window) if window else None
    reason = "the batch is empty"
    if reference is not None and not reference.sensors:
        reason = (f"no readings in the {config.REFERENCE_DAYS} days before {window.current_start:%Y-%m-%d %H:%M} "
                  "(a warehouse's first day has no reference period)")
        reference = None
    values = current_values(con, batch, window) if reference else None
    households = household_frame(con, batch, reference) if reference else None
    if reference:
        progress(f"drift reference {reference.reference_id}: {len(reference.sensors)} sensors, "
                 f"{len(reference.households):,} household-sensors")
    return Frames(batch, profile, days, summary, features, predictions, reference, values, households, reason)


def suite_specs(frames: Frames) -> list:
    """The suites of expectations.suites, each with its frame (imports Great Expectations)."""
    from expectations import suites

    return [
        suites.raw_readings(frames.profile),
        suites.raw_completeness(frames.days),
        suites.raw_batch(frames.summary),
        suites.features_flags(frames.features),
        suites.predictions(frames.predictions),
        suites.drift_sensors(frames.drift_values, frames.reference, frames.drift_reason),
        suites.drift_households(frames.households, frames.reference, frames.drift_reason),
    ]


def check_batch(db=None, batch_id: str | None = None, *, report_path: Path | None = None,
                progress: Callable[[str], None] | None = None) -> CheckResult:
    """Validate `batch_id` (default: the newest batch), store every result, and write the report if asked."""
    progress = progress or (lambda _m: None)
    started = utcnow()
    with reader(db) as con:
        batch = load_batch(con, batch_id)
        span = f"from {batch.first_reading_at} to {batch.last_reading_at}" if not batch.is_empty else "(empty)"
        progress(f"checking batch {batch.batch_id}: {batch.n_readings:,} readings {span}")
        frames = collect_frames(con, batch, progress)
    progress("loading Great Expectations")
    from expectations.validate import Validator

    specs = suite_specs(frames)
    progress(f"validating {sum(len(s.expectations) for s in specs)} expectations in {len(specs)} suites")
    validator = Validator()
    results = [r for spec in specs for r in validator.run(spec)]
    run = CheckResult(f"dq-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", batch.batch_id, results,
                      frames.reference.reference_id if frames.reference else None, started, utcnow())
    with writer(db) as con, transaction(con):
        if frames.reference:
            store_reference(con, frames.reference, run.finished_at)
        store_run(con, run)
    if report_path is not None:
        from expectations.report import write_report

        run.report_path = write_report(db, report_path, batch.batch_id)
    return run


def store_run(con, run: CheckResult) -> None:
    """One dq.check_runs row and one dq.validation_results row per expectation."""
    con.execute(
        "insert into dq.check_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run.run_id, run.batch_id, run.started_at, run.finished_at, run.passed, len(run.results),
         len(run.failed(config.CRITICAL)), len(run.failed(config.WARN)), len(run.not_evaluated), run.reference_id],
    )
    con.executemany(
        "insert into dq.validation_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(run.run_id, run.batch_id, r.suite, r.expectation, r.expectation_type, r.column, r.success, r.observed,
          r.threshold, r.severity, json.dumps(r.details), run.finished_at) for r in run.results],
    )
