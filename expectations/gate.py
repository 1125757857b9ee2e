"""The quality gate the scoring step calls before it scores a batch.

    from expectations.gate import require_passed, QualityGateError
    with reader(db) as con:
        decision = require_passed(con, batch_id)           # raises if the batch must not be scored
        decision = require_passed(con, batch_id, force=True)  # never raises; decision.message says why it would have

Only the newest check of a batch counts (checking again after a fix clears it). A batch that
was never checked raises BatchNotCheckedError, a subclass of QualityGateError, so a caller can
catch it alone and run `expectations.check.check_batch` first, or refuse. This module reads
dq.* with plain SQL and never imports Great Expectations.
"""
from __future__ import annotations

import dataclasses

from expectations.config import CRITICAL
from warehouse.connection import WarehouseError, has_table

FAILURES_NAMED = 10  # failed expectations spelled out in a message


class QualityGateError(WarehouseError):
    """The batch failed a critical expectation in its newest check; `failures` names them."""

    def __init__(self, message: str, batch_id: str, failures: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.failures = failures


class BatchNotCheckedError(QualityGateError):
    """The batch has no quality check on record."""


@dataclasses.dataclass(frozen=True)
class GateDecision:
    batch_id: str
    run_id: str | None  # the check the decision rests on; None if never checked
    checked: bool
    passed: bool  # the newest check found no critical failure
    forced: bool  # scoring goes ahead although the gate would refuse it
    failures: tuple[str, ...]  # "expectation [column]: observed (expected threshold)"
    message: str


def latest_run(con, batch_id: str) -> tuple | None:
    """(run_id, passed, finished_at) of the batch's newest check, or None."""
    if not has_table(con, "dq", "check_runs"):
        return None
    rows = con.execute("select run_id, passed, finished_at from dq.check_runs where batch_id = ? "
                       "order by finished_at desc, run_id desc limit 1", [batch_id]).fetchall()
    return rows[0] if rows else None


def critical_failures(con, run_id: str) -> tuple[str, ...]:
    """Each failed critical expectation of a run, in words."""
    rows = con.execute(
        "select expectation, column_name, observed_value, threshold from dq.validation_results "
        "where run_id = ? and severity = ? and success = false order by suite, expectation, column_name",
        [run_id, CRITICAL]).fetchall()
    return tuple(f"{name}{f' [{column}]' if column else ''}: {observed} (expected {threshold})"
                 for name, column, observed, threshold in rows)


def require_passed(con, batch_id: str, force: bool = False) -> GateDecision:
    """Refuse a batch whose newest check failed a critical expectation, or that was never checked.

    Raises QualityGateError (BatchNotCheckedError when unchecked) unless `force`; with
    `force` it returns the decision with forced=True and the reason in its message.
    """
    run = latest_run(con, batch_id)
    if run is None:
        message = (f"batch {batch_id} has never been quality-checked: run `homewatch check --batch {batch_id}` "
                   "first, or force scoring")
        if not force:
            raise BatchNotCheckedError(message, batch_id)
        return GateDecision(batch_id, None, False, False, True, (), f"{message} (forced: scoring anyway)")
    run_id, passed, finished_at = run
    if passed:
        return GateDecision(batch_id, run_id, True, True, False, (),
                            f"batch {batch_id} passed its quality check (run {run_id})")
    failures = critical_failures(con, run_id)
    named = "; ".join(failures[:FAILURES_NAMED]) + (f"; and {len(failures) - FAILURES_NAMED} more"
                                                    if len(failures) > FAILURES_NAMED else "")
    message = (f"batch {batch_id} failed {len(failures)} critical quality check(s) in run {run_id} "
               f"({finished_at:%Y-%m-%d %H:%M} UTC): {named}. Fix the data and run `homewatch check --batch "
               f"{batch_id}` again, or force scoring")
    if not force:
        raise QualityGateError(message, batch_id, failures)
    return GateDecision(batch_id, run_id, True, False, True, failures, f"{message} (forced: scoring anyway)")
