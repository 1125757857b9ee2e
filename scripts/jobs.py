"""The pipeline as one job: `homewatch batch` (scheduled) and the steps of `homewatch run`.

    check the raw data of the new batches (stop on a critical failure: nothing is built)
        -> build (incremental dbt, on the warehouse's grid step) -> check what was built (stop on a
        critical failure) -> [train] -> score -> refresh the anomaly marts -> alerts (sync ops.alerts,
        deliver the outbox: warehouse/alerts) -> anomaly report -> record the run in ops.job_runs

What a run takes in: the batches (raw.batches) landed after its watermark, the landing time of
the newest batch the last completed run took in. The dbt build decides what to recompute from
its own ledger (intermediate.int_batches_processed), and the scorer from ml.scored_batches, so
every step is idempotent on its own and a run that dies part-way is redone by the next one:

- one run at a time (warehouse/lock.py): a second copy exits at once with exit code 75;
- killed during dbt: dbt commits model by model, but marks the batches processed only in its
  last model, so the next build recomputes the same window from the same inputs;
- killed during scoring: the predictions are one transaction, so none of them land;
- the watermark moves only when a run completes; a run found 'running' by the next one (which
  holds the lock, so its process is gone) is marked 'abandoned'.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from warehouse.connection import WarehouseError, has_table, reader, transaction, utcnow, writer
from warehouse.failpoints import failpoint
from warehouse.lock import run_lock

# the dbt models that read ml.predictions, rebuilt after each scoring run: the staging view
# (for its key test on the new predictions) and the mart (views and seeds it reads are built
# by every full `dbt build`, and do not change with the data)
PREDICTION_MARTS = "stg_ml__predictions fct_classified_anomalies"
CLASSIFIED_MART = "fct_classified_anomalies"
DONE = ("succeeded", "nothing_new")  # statuses whose watermark counts


class QualityStop(WarehouseError):
    """A critical quality check failed: the job stopped before building (raw data) or scoring."""

    exit_code = 1


@dataclasses.dataclass
class JobResult:
    run_id: str
    job: str
    status: str
    batches: list[str]
    rows_in: int
    steps_scored: int
    anomalies_found: int
    anomalies_by_class: dict[str, int]
    watermark_to: object
    model_version: str | None
    report_path: Path | None
    seconds: float
    message: str

    def summary(self) -> str:
        found = ", ".join(f"{n} {c}" for c, n in sorted(self.anomalies_by_class.items())) or "none"
        return (f"{self.job} run {self.run_id}: {self.status} in {self.seconds:.1f} s; "
                f"{len(self.batches)} new batch(es), {self.rows_in:,} readings in, {self.steps_scored:,} steps scored; "
                f"anomalies in the new data: {self.anomalies_found} ({found})")


class _Run:
    """The ops.job_runs row of this run: inserted as 'running', updated at each step and at the end."""

    def __init__(self, db, job: str) -> None:
        self.db, self.job = db, job
        self.run_id = f"{job}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.started = time.monotonic()
        self.step = "start"

    def start(self, con) -> tuple[object, str | None]:
        """Mark dead runs abandoned, insert this one; (the watermark, how the last run ended)."""
        with transaction(con):
            con.execute(
                "update ops.job_runs set status = 'abandoned', message = 'the process ended at step ' "
                "|| coalesce(step, '?') || ' without finishing (killed or crashed); ' || ? || ' redid its work' "
                "where status = 'running'", [self.run_id])
            watermark = con.execute(f"select max(watermark_to) from ops.job_runs where status in {DONE}").fetchone()[0]
            last = con.execute("select status from ops.job_runs order by started_at desc limit 1").fetchone()
            con.execute("insert into ops.job_runs (run_id, job, started_at, status, step, watermark_from, host, pid) "
                        "values (?, ?, ?, 'running', 'start', ?, ?, ?)",
                        [self.run_id, self.job, utcnow(), watermark, socket.gethostname(), os.getpid()])
        return watermark, (last[0] if last else None)

    def enter(self, step: str, record: bool = True, **fields) -> None:
        """The step the run is in (a failure is recorded at it); recorded in ops.job_runs now
        unless `record` is false."""
        self.step = step
        if record:
            self.update(step=step, **fields)

    def update(self, **fields) -> None:
        for key in ("batches", "anomalies_by_class"):
            if key in fields and fields[key] is not None:
                fields[key] = json.dumps(fields[key], sort_keys=True)
        sets = ", ".join(f"{k} = ?" for k in fields)
        with writer(self.db) as con:
            con.execute(f"update ops.job_runs set {sets} where run_id = ?", [*fields.values(), self.run_id])


def _unbuilt_batches(con) -> list[str]:
    """Landed batches no completed dbt build has taken in (all of them before the first build)."""
    if not has_table(con, "intermediate", "int_batches_processed"):
        return [r[0] for r in con.execute("select batch_id from raw.batches").fetchall()]
    return [r[0] for r in con.execute(
        "select batch_id from raw.batches where rows_loaded > 0 and batch_id not in "
        "(select batch_id from intermediate.int_batches_processed) order by finished_at").fetchall()]


def _new_batches(con, watermark) -> list[tuple[str, object, int]]:
    """(batch_id, landed at, readings) of the batches built since the watermark, oldest first."""
    return con.execute(
        "select b.batch_id, b.finished_at, b.rows_loaded from raw.batches b "
        "where b.batch_id in (select batch_id from intermediate.int_batches_processed) "
        "and (?::timestamp is null or b.finished_at > ?::timestamp) order by b.finished_at, b.batch_id",
        [watermark, watermark]).fetchall()


def _anomalies_in(con, spans: dict[str, tuple]) -> tuple[dict[str, int], str]:
    """Anomalies that reach into the new readings, by class: in the households the run's batches
    touched, overlapping each one's span of new readings (not the rest of the warehouse); the
    classifier's once a model has scored, else the rule events; and the table they came from."""
    if not spans:
        return {}, ""
    if has_table(con, "marts", "fct_classified_anomalies") and con.execute(
            "select count(*) > 0 from marts.fct_classified_anomalies").fetchone()[0]:
        table, name, where = "marts.fct_classified_anomalies", "class_name", ""
    elif has_table(con, "marts", "fct_anomaly_events"):
        table, name, where = "marts.fct_anomaly_events", "rule_name", "and a.event_kind = 'anomaly'"
    else:
        return {}, ""
    rows = con.execute(
        f"select a.{name}, count(*) from {table} a inner join (select unnest(?::varchar[]) as household_id, "
        "unnest(?::timestamp[]) as first_at, unnest(?::timestamp[]) as last_at) t "
        f"on a.household_id = t.household_id and a.end_at > t.first_at and a.start_at <= t.last_at {where} group by 1",
        [list(spans), [s[0] for s in spans.values()], [s[1] for s in spans.values()]]).fetchall()
    return {r[0]: int(r[1]) for r in rows}, table


def run_pipeline(
    db=None,
    *,
    job: str = "batch",
    force: bool = False,
    train: Callable[[], None] | None = None,
    report_dir: Path,
    progress: Callable[[str, str], None],
) -> JobResult:
    """Run the pipeline once under the run lock (see the module doc). `train` is called when no
    production model exists (the main job trains one; the batch job only scores). Raises
    QualityStop when a critical check fails (unless `force`), RunInProgressError when another
    run holds the lock; any other error is recorded in ops.job_runs and raised."""
    from warehouse.transform import build, dbt_session

    run = _Run(db, job)
    with run_lock(db, job), dbt_session(db):
        with writer(db) as con:
            if not con.execute("select count(*) from raw.batches").fetchone()[0]:
                raise WarehouseError("the warehouse holds no readings yet: land some with `homewatch simulate` "
                                     "or `homewatch ingest FILE`, then run again")
            watermark, last_status = run.start(con)
            unbuilt = _unbuilt_batches(con)
        try:
            raw_checks = _build(db, run, unbuilt, force, report_dir, progress)
            run.enter("check")
            with reader(db) as con:
                new = _new_batches(con, watermark)
            batches = [b[0] for b in new]
            rows_in = int(sum(b[2] for b in new))
            touched = _new_readings(db, batches)
            run.update(batches=batches, rows_in=rows_in)
            _check(db, batches, force, report_dir, progress, raw_checks)
            steps_scored, version = _score_or_train(db, run, force, train, progress)
            run.enter("marts", steps_scored=steps_scored, model_version=version)
            changed = bool(unbuilt or steps_scored or last_status not in DONE)
            if changed:
                build(db=db, select=PREDICTION_MARTS, progress=lambda m: progress("marts", m))
                progress("marts", "marts.fct_classified_anomalies is up to date")
            run.enter("alerts")
            alerts = _alerts(db, report_dir, progress)

            with reader(db) as con:
                by_class, source = _anomalies_in(con, touched)
            status = "succeeded" if batches or steps_scored else "nothing_new"
            watermark_to = max((b[1] for b in new), default=watermark)
            message = (f"{len(batches)} batch(es) taken in; anomalies counted from {source}" if batches
                       else "no new batch since the watermark") + f"; alerts: {alerts}"
            # the run is recorded before the report is written, so the report shows it
            run.update(status=status, step="done", finished_at=utcnow(), anomalies_found=sum(by_class.values()),
                       anomalies_by_class=by_class, watermark_to=watermark_to, message=message)
            run.enter("report", record=False)   # a failure here still marks the run failed
            report = _report(db, report_dir, batches, changed, progress)
            return JobResult(run.run_id, job, status, batches, rows_in, steps_scored, sum(by_class.values()), by_class,
                             watermark_to, version, report, time.monotonic() - run.started, message)
        except QualityStop as exc:
            _record_failure(run, "quality_failed", run.step, str(exc))
            raise
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            _record_failure(run, "failed", run.step, reason)
            raise


def _build(db, run: _Run, unbuilt: list[str], force: bool, report_dir: Path, progress) -> dict:
    """Steps raw_check and build: check the raw data of the batches no build has taken in, then
    build the dbt layers on them (all but the mart of classified anomalies, which waits for this
    run's scores). The raw checks, for the check step."""
    from warehouse.transform import build

    raw_checks = {}
    run.enter("raw_check", record=bool(unbuilt))
    if unbuilt:
        raw_checks = _check_raw(db, unbuilt, force, report_dir, progress)
    run.enter("build")
    failpoint("job.build")
    if unbuilt:
        progress("build", f"{len(unbuilt)} batch(es) landed since the last build: building the dbt layers")
        _preload(("expectations.suites", "expectations.validate", "onnxruntime"))
        build(db=db, exclude=CLASSIFIED_MART, progress=lambda m: progress("build", m))
    else:
        progress("build", "no batch landed since the last build: the dbt layers are up to date")
    return raw_checks


def _score_or_train(db, run: _Run, force: bool, train: Callable[[], None] | None, progress) -> tuple[int, str | None]:
    """Step score (and train, first, when there is no production model and the job trains one):
    (steps scored, the model version)."""
    from models_ml import registry

    run.enter("score")
    with reader(db) as con:
        production = registry.production(con)
    if production is None and train is not None:
        run.enter("train")
        train()
        with reader(db) as con:
            production = registry.production(con)
        run.enter("score")
    if production is None:
        progress("score", "no production model yet: the rule-based anomalies stand alone "
                          "(`homewatch train` makes one)")
        return 0, None
    return _score(db, force, progress)


def _report(db, report_dir: Path, batches: list[str], changed: bool, progress) -> Path:
    """The anomaly report, about this run's new data (its batches' households and readings) if it
    took any in; rewritten only when something changed (or it is missing)."""
    report = report_dir / "anomalies.html"
    if changed or not report.exists():
        from scripts.anomaly_report import ReportOptions, write_anomaly_report

        report = write_anomaly_report(db, report, ReportOptions(batches=batches or None),
                                      progress=lambda m: progress("report", m))
        progress("report", f"wrote {report}")
    return report


def _alerts(db, report_dir: Path, progress) -> str:
    """Sync ops.alerts with the marts and send what the outbox holds (warehouse/alerts). A sink
    that fails keeps its messages for the next run and does not fail the job."""
    from warehouse.alerts import load_config, sync_and_deliver

    result = sync_and_deliver(db, load_config(), default_file=report_dir / "alerts.jsonl")
    progress("alerts", result.summary())
    return result.summary()


def _preload(modules: tuple[str, ...]) -> None:
    """Import the libraries of the next steps (Great Expectations alone takes about 4 s) on a
    background thread while the dbt child builds and this process only waits for its output.
    The step that needs a module imports it as usual, waiting for this import if it is still
    running; an import that fails here fails again there, with its error shown."""
    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - reported by the step that needs it
                return

    threading.Thread(target=load, name="homewatch-preload", daemon=True).start()


def _record_failure(run: _Run, status: str, step: str, message: str) -> None:
    """Best effort: a warehouse that cannot be opened (busy, broken) keeps the row 'running', and
    the next run marks it abandoned."""
    try:
        run.update(status=status, step=step, finished_at=utcnow(), message=message[:2000])
    except Exception:  # noqa: BLE001 - the original error is what the user must see
        pass


def _new_readings(db, batches: list[str]) -> dict[str, tuple]:
    """household_id -> (first, last) reading of the given batches: what a run took in."""
    if not batches:
        return {}
    with reader(db) as con:
        return {h: (a, b) for h, a, b in con.execute(
            "select household_id, min(reading_at), max(reading_at) from raw.readings "
            "where batch_id in (select unnest(?::varchar[])) group by 1", [batches]).fetchall()}


def _check_raw(db, batches: list[str], force: bool, report_dir: Path, progress) -> dict:
    """Before the build: the raw-data suites of each batch about to be built whose newest check
    did not pass yet. A critical failure stops the job before dbt touches anything (unless
    `force`), and the failed run is stored (dq.*, the quality report). Returns the passed raw
    checks by batch, which the check after the build completes."""
    from expectations.check import check_batch
    from expectations.gate import latest_run

    passed, failed = {}, []
    for batch_id in batches:
        with reader(db) as con:
            newest = latest_run(con, batch_id)
        if newest is not None and newest[1]:
            continue  # a full check passed already (`homewatch check` before the job)
        result = check_batch(db, batch_id, report_path=report_dir / "quality.html", stage="raw",
                             progress=lambda m: progress("raw_check", m))
        progress("raw_check", result.summary().splitlines()[0])
        if result.passed:
            passed[batch_id] = result
        else:
            failed.append((batch_id, result))
    if failed:
        names = "; ".join(f"{b}: " + ", ".join(r.expectation for r in res.failed("critical"))[:400] for b, res in failed)
        if force:
            progress("raw_check", f"critical raw-data checks failed ({names}); building anyway because of --force")
        else:
            raise QualityStop(
                f"a critical check of the raw data failed, so nothing was built or scored: {names}. See "
                f"{report_dir / 'quality.html'} and `select * from dq.validation_results where not success`. "
                "Fix or replace the data and run again, or run with --force to build and score it anyway.")
    return passed


def _check(db, batches: list[str], force: bool, report_dir: Path, progress, raw_checks: dict | None = None) -> None:
    """Validate each new batch whose newest check did not pass yet (completing the raw check made
    before the build, if any); stop on a critical failure."""
    from expectations.check import check_batch
    from expectations.gate import latest_run

    failed = []
    raw_checks = raw_checks or {}
    for batch_id in batches:
        with reader(db) as con:
            newest = latest_run(con, batch_id)
        if newest is not None and newest[1]:
            progress("check", f"batch {batch_id} already passed its check ({newest[0]})")
            continue
        result = check_batch(db, batch_id, report_path=report_dir / "quality.html", raw=raw_checks.get(batch_id),
                             progress=lambda m: progress("check", m))
        progress("check", result.summary().splitlines()[0])
        if not result.passed:
            failed.append((batch_id, result))
    if not batches:
        progress("check", "no new batch to check")
    if not failed:
        return
    names = "; ".join(f"{b}: " + ", ".join(r.expectation for r in res.failed("critical"))[:400] for b, res in failed)
    if force:
        progress("check", f"critical checks failed ({names}); going on because of --force")
        return
    raise QualityStop(
        f"a critical quality check failed, so nothing was scored: {names}. See {report_dir / 'quality.html'} "
        "and `select * from dq.validation_results where not success`. Fix or replace the data and run again, "
        "or run with --force to score it anyway."
    )


def _score(db, force: bool, progress) -> tuple[int, str]:
    from models_ml.score import score

    with writer(db) as con:
        result = score(con, force=force, progress=lambda m: progress("score", m))
    if result.steps_scored:
        progress("score", f"{result.steps_scored:,} steps of {result.households} households scored by "
                          f"{result.model_version} in {result.seconds:.1f} s; {result.anomalies:,} anomalous steps")
    else:
        progress("score", f"nothing new to score for {result.model_version}")
    return result.steps_scored, result.model_version
