"""Benchmark: the alert loop's feedback (issue 17, section 4) on a small simulated warehouse.

Two replays of the same warehouse, week by week (the alerts synced as of the end of each week,
as a weekly batch would see them):

- without feedback: nobody labels anything;
- with feedback: in each of the first --feedback-weeks weeks, a scripted user labels every alert
  that was sent that week from the simulator's ground truth: `true` when it overlaps an injected
  anomaly of its household (or, for a sensor_health alert, an injected sensor fault), else
  `false`. The loop adapts (warehouse/alerts/feedback.py) before the next week's sync.

Measured on the weeks after the feedback weeks, in both replays: false alarms per
household-week (alerts sent that overlap no injected anomaly or fault) and event recall (the
share of injected anomalies starting then that some sent alert of the household overlaps).
Targets (issue 17): false alarms at least halved, recall not lower by more than 0.01.

    .venv/bin/python bench/bench_feedback.py --households 12 --days 56

Detectors: the dbt rules and the generic layer only (no classifier is trained here, to keep the
bench small); an alert the classifier also saw would count as two detectors.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import peak_rss_mb, record, timed  # noqa: E402

TRUTH = """
    select household_id, kind, start_at, end_at from raw.injected_events where kind in ('anomaly', 'fault')
"""


def _prepare(db: Path, households: int, days: int, seed: int, figures: dict) -> None:
    from simulator.config import SimConfig
    from warehouse.land import land_simulation
    from warehouse.transform import build

    with timed(figures, "simulate_s"):
        land_simulation(SimConfig(households, days, seed=seed), db=db)
    with timed(figures, "dbt_build_s"):
        build(db=db)


def _truth_overlaps(truth: list[tuple], household: str, alert_class: str, start, end) -> bool:
    kinds = ("anomaly", "fault") if alert_class == "sensor_health" else ("anomaly",)
    return any(h == household and k in kinds and s < end and start < e for h, k, s, e in truth)


def _replay(base: Path, work: Path, weeks: int, feedback_weeks: int, label: bool, settings: dict | None = None) -> dict:
    """Sync week by week (labelling the first feedback_weeks weeks if `label`); the alerts."""
    from warehouse.alerts import sync
    from warehouse.alerts.config import AlertConfig, AlertSettings
    from warehouse.alerts.feedback import record_label
    from warehouse.connection import writer

    db = work / ("feedback.duckdb" if label else "plain.duckdb")
    shutil.copy(base, db)
    # a weekly replay: everything of the week is fresh when it is synced
    config = AlertConfig(alerts=AlertSettings(**{"max_age_hours": 8 * 24, **(settings or {})}))
    with writer(db) as con:
        start = con.execute("select min(reading_at) from raw.readings").fetchone()[0]
        start = dt.datetime.combine(start.date(), dt.time())
        truth = con.execute(TRUTH).fetchall()
        labels = 0
        for week in range(1, weeks + 1):
            as_of = start + dt.timedelta(weeks=week)
            sync(con, config, as_of=as_of)
            if label and week <= feedback_weeks:
                for alert_id, h, cls, onset, end in con.execute(
                        "select alert_id, household_id, alert_class, onset_at, end_at from ops.alerts "
                        "where suppressed_by is null and onset_at >= ? order by alert_id",
                        [as_of - dt.timedelta(weeks=1)]).fetchall():
                    verdict = "true" if _truth_overlaps(truth, h, cls, onset, end) else "false"
                    record_label(con, config, alert_id, verdict, note="bench: scripted from ground truth")
                    labels += 1
        alerts = con.execute("select household_id, alert_class, onset_at, end_at, suppressed_by, alert_id, detectors, "
                             "severity, observed_value, expected_value from ops.alerts").fetchall()
        zones = dict(con.execute("select household_id, timezone from raw.households").fetchall())
        events = con.execute("select household_id, start_at, end_at from raw.injected_events where kind = 'anomaly'"
                             ).fetchall()
        n_households = con.execute("select count(*) from raw.households").fetchone()[0]
        adaptations = con.execute("select count(*) from ops.alert_adaptations").fetchone()[0]
    return {"start": start, "truth": truth, "alerts": alerts, "events": events, "households": n_households,
            "labels": labels, "adaptations": adaptations, "zones": zones}


def _measure(run: dict, first_week: int, weeks: int) -> tuple[float, float, int]:
    """(false alarms per household-week, event recall, events) over weeks first_week+1 .. weeks."""
    lo = run["start"] + dt.timedelta(weeks=first_week)
    hi = run["start"] + dt.timedelta(weeks=weeks)
    sent = [a for a in run["alerts"] if a[4] is None]
    false = sum(1 for h, c, s, e, *_ in sent if lo <= s < hi and not _truth_overlaps(run["truth"], h, c, s, e))
    events = [ev for ev in run["events"] if lo <= ev[1] < hi]
    found = sum(1 for h, s, e in events if any(a[0] == h and a[2] < e and s < a[3] for a in sent))
    household_weeks = run["households"] * (weeks - first_week)
    return false / household_weeks, (found / len(events) if events else float("nan")), len(events)


def _false_by_class(run: dict, first_week: int, weeks: int) -> str:
    """The false alarms sent over weeks first_week+1 .. weeks by class, most first: what is left."""
    lo = run["start"] + dt.timedelta(weeks=first_week)
    hi = run["start"] + dt.timedelta(weeks=weeks)
    counts = collections.Counter(c for h, c, s, e, held, *_ in run["alerts"] if held is None and lo <= s < hi
                                 and not _truth_overlaps(run["truth"], h, c, s, e))
    return ", ".join(f"{c} {n}" for c, n in counts.most_common()) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=12)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--feedback-weeks", type=int, default=4)
    parser.add_argument("--db", type=Path, help="a built warehouse to reuse (default: simulate and build one)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an [alerts] setting of homewatch.toml for both replays, e.g. pattern_labels=1; "
                        "fleet_min_labels=1000 turns off what the labels of all homes add (the adaptation before it)")
    args = parser.parse_args()
    weeks = args.days // 7
    if weeks <= args.feedback_weeks:
        parser.error(f"--days {args.days} leaves no week after {args.feedback_weeks} feedback weeks")
    figures: dict = {"households": args.households, "days": args.days, "seed": args.seed,
                     "feedback_weeks": args.feedback_weeks}
    settings = {k: float(v) if "." in v else int(v) for k, _, v in (x.partition("=") for x in args.set)}
    if settings:
        figures["settings"] = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = args.db or work / "base.duckdb"
        if args.db is None:
            _prepare(base, args.households, args.days, args.seed, figures)
        with timed(figures, "replay_s"):
            plain = _replay(base, work, weeks, args.feedback_weeks, label=False, settings=settings)
            taught = _replay(base, work, weeks, args.feedback_weeks, label=True, settings=settings)
    fa_first, recall_first, _ = _measure(plain, 0, args.feedback_weeks)
    fa_plain, recall_plain, n_events = _measure(plain, args.feedback_weeks, weeks)
    fa_taught, recall_taught, _ = _measure(taught, args.feedback_weeks, weeks)
    figures.update({
        "labels_given": taught["labels"], "adaptations_logged": taught["adaptations"],
        "false_alarms_per_hh_week_first_weeks": round(fa_first, 3),
        "recall_first_weeks": round(recall_first, 3),
        "false_alarms_per_hh_week_after_no_feedback": round(fa_plain, 3),
        "false_alarms_per_hh_week_after_feedback": round(fa_taught, 3),
        "false_alarm_ratio": round(fa_taught / fa_plain, 3) if fa_plain else float("nan"),
        "events_after": n_events,
        "event_recall_after_no_feedback": round(recall_plain, 3),
        "event_recall_after_feedback": round(recall_taught, 3),
        "recall_change": round(recall_taught - recall_plain, 3),
        "false_alarms_after_no_feedback_by_class": _false_by_class(plain, args.feedback_weeks, weeks),
        "false_alarms_after_feedback_by_class": _false_by_class(taught, args.feedback_weeks, weeks),
        "load_average": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    })
    record("feedback", figures, {"false_alarm_ratio": ("<=", 0.5), "recall_change": (">=", -0.01)})


if __name__ == "__main__":
    main()
