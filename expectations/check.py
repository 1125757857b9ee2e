"""`homewatch check`: validate one batch with every suite, store the results, write the report.

Reading and writing are separate: the frames are computed on a short read-only connection,
Great Expectations runs with no connection open, and the results are written in one
transaction, so a failed check leaves dq.* as it was.

The suites come in two stages. The raw stage (RAW_SUITES: the raw readings, their
completeness, the batch as a whole, drift against the days before) reads only raw.*, so
`homewatch batch` runs it before the dbt build: a batch that fails a critical raw check is not
built (check_batch(stage="raw")). The built stage (features and flags, predictions) reads what
dbt and the scorer made of the batch; after the build it completes the raw stage's run
(check_batch(raw=...)), which is then stored as one check run with every suite.
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
    stage: str = "all"  # 'raw': only RAW_SUITES were validated
    reference: Reference | None = dataclasses.field(default=None, repr=False)  # the drift reference used
    stored: bool = False  # written to dq.check_runs and dq.validation_results

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


RAW_SUITES = ("raw_readings", "raw_completeness", "raw_batch", "drift_sensors", "drift_households")
BUILT_SUITES = ("features_flags", "predictions")
STAGES = {"raw": RAW_SUITES, "built": BUILT_SUITES, "all": RAW_SUITES + BUILT_SUITES}


def collect_frames(con, batch: Batch, progress: Callable[[str], None], stage: str = "all") -> Frames:
    """Run the SQL that bounds each suite's input; nothing here loads the warehouse whole.
    Only the frames of the stage's suites are computed (the others are None or empty)."""
    limit = os.environ.get(config.MEMORY_ENV) or config.DEFAULT_MEMORY
    con.execute(f"set memory_limit = '{limit.replace(chr(39), '')}'")  # DuckDB spills beyond it
    features = predictions = None
    if stage != "raw":
        features = model_frames.features_frame(con, batch)
        predictions = model_frames.predictions_frame(con, batch)
    if stage == "built":
        empty = pd.DataFrame()
        return Frames(batch, empty, empty, empty, features, predictions, None, None, None, "")
    profile = profiles.readings_profile(con, batch)
    days = profiles.days_profile(con, batch)
    summary = profiles.batch_summary(con, batch, days, profile)
    progress(f"raw profile: {len(profile):,} household-sensor-days, {len(days):,} household-days")
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


def suite_specs(frames: Frames, names: tuple[str, ...] = STAGES["all"]) -> list:
    """The suites of expectations.suites named, each with its frame (imports Great Expectations)."""
    from expectations import suites

    builders = {
        "raw_readings": lambda: suites.raw_readings(frames.profile),
        "raw_completeness": lambda: suites.raw_completeness(frames.days),
        "raw_batch": lambda: suites.raw_batch(frames.summary),
        "features_flags": lambda: suites.features_flags(frames.features),
        "predictions": lambda: suites.predictions(frames.predictions),
        "drift_sensors": lambda: suites.drift_sensors(frames.drift_values, frames.reference, frames.drift_reason),
        "drift_households": lambda: suites.drift_households(frames.households, frames.reference, frames.drift_reason),
    }
    return [builders[name]() for name in builders if name in names]


def check_batch(db=None, batch_id: str | None = None, *, report_path: Path | None = None,
                progress: Callable[[str], None] | None = None, stage: str = "all",
                raw: CheckResult | None = None) -> CheckResult:
    """Validate `batch_id` (default: the newest batch), store every result, and write the report if asked.

    stage='raw' validates only RAW_SUITES (they read raw.* alone: run before a build) and stores
    the run only if it failed, so that the gate refuses the batch and the report says why; a
    passed raw run is handed back as `raw` after the build, which then validates only the
    built suites and stores one run holding both."""
    progress = progress or (lambda _m: None)
    if stage not in ("raw", "all"):
        raise ValueError(f"stage must be 'raw' or 'all', got {stage!r}")
    if raw is not None and (stage != "all" or raw.stage != "raw" or raw.batch_id != (batch_id or raw.batch_id)):
        raise ValueError("raw must be a raw-stage check of the same batch")
    started = raw.started_at if raw is not None else utcnow()
    collect = "built" if raw is not None else stage
    with reader(db) as con:
        batch = load_batch(con, batch_id or (raw.batch_id if raw is not None else None))
        span = f"from {batch.first_reading_at} to {batch.last_reading_at}" if not batch.is_empty else "(empty)"
        what = {"raw": "raw readings of batch", "built": "what the build made of batch"}.get(collect, "batch")
        progress(f"checking {what} {batch.batch_id}: {batch.n_readings:,} readings {span}")
        frames = collect_frames(con, batch, progress, collect)
    progress("loading Great Expectations")
    from expectations.validate import Validator

    specs = suite_specs(frames, STAGES[collect])
    progress(f"validating {sum(len(s.expectations) for s in specs)} expectations in {len(specs)} suites")
    validator = Validator()
    results = [r for spec in specs for r in validator.run(spec)]
    reference = raw.reference if raw is not None else frames.reference
    run = CheckResult(f"dq-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", batch.batch_id,
                      (raw.results if raw is not None else []) + results,
                      reference.reference_id if reference else None, started, utcnow(),
                      stage=stage, reference=reference)
    if stage == "raw" and run.passed:
        return run
    with writer(db) as con, transaction(con):
        if reference:
            store_reference(con, reference, run.finished_at)
        store_run(con, run)
    run.stored = True
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
