"""Benchmark: the alert loop's feedback (issue 17, section 4) on a small simulated warehouse.

Two replays of the same warehouse, week by week (the alerts synced as of the end of each week,
as a weekly batch would see them):

- without feedback: nobody labels anything;
- with feedback: in each of the first --feedback-weeks weeks, a scripted user labels every alert
  that was sent that week from the simulator's ground truth: `true` when it overlaps an injected
  anomaly of its household (or, for a sensor_health alert, an injected sensor fault), else
  `false`. The loop adapts (warehouse/alerts/feedback.py) before the next week's sync.

Measured on the weeks after the feedback weeks, in both replays: false alarms per
household-week (alerts sent that overlap no injected anomaly or fault), event recall (the
share of injected anomalies starting then that some sent alert of the household overlaps) and
fault recall (the same for injected sensor faults: feedback on the generic classes must not
silence them).
Targets (issue 17): false alarms at least halved, recall not lower by more than 0.01.

    .venv/bin/python bench/bench_feedback.py --households 12 --days 56

Detectors: the dbt rules and the generic layer only (no classifier is trained here, to keep the
bench small); an alert the classifier also saw would count as two detectors.

`--real-house`: the same two replays on the real house of ../shared/realdata/ (7.4 weeks of
10-minute readings) and `--copies` copies of it with incidents injected (bench/realhouse.py),
built as bench/bench_real.py builds them (ingest, model import, build on the model's grid step,
`homewatch batch`, so the rules, the generic layer and the classifier of --model all feed the
alerts), once per injector seed:

    .venv/bin/python bench/bench_feedback.py --real-house --model PACKAGE [--copies 10] [--seeds 1,2]

Truth: every injected incident of a copy (any kind, any alert class), over bench_real's window
(one grid step before it to an hour after it ends); the untouched house is taken as
incident-free, so each of its alerts is false. Weeks are counted from the first midnight: four
weeks of labels, then the measured weeks 5 to the end of the data (3.4 weeks, the last one
partial; household-weeks are counted with that fraction).
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


def _replay(base: Path, work: Path, weeks: int, feedback_weeks: int, label: bool, settings: dict | None = None,
            real: dict | None = None) -> dict:
    """Sync week by week (labelling the first feedback_weeks weeks if `label`); the alerts.
    `real`: the real-house mode's truth and events (see _prepare_real) instead of
    raw.injected_events, and a last, partial week up to the end of the data."""
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
        truth = real["truth"] if real else con.execute(TRUTH).fetchall()
        ends = [start + dt.timedelta(weeks=week) for week in range(1, weeks + 1)]
        if real and real["end"] > ends[-1]:
            ends.append(real["end"])
        labels = 0
        for week, as_of in enumerate(ends, 1):
            sync(con, config, as_of=as_of)
            if label and week <= feedback_weeks:
                for alert_id, h, cls, onset, end in con.execute(
                        "select alert_id, household_id, alert_class, onset_at, end_at from ops.alerts "
                        "where suppressed_by is null and onset_at >= ? order by alert_id",
                        [start + dt.timedelta(weeks=week - 1)]).fetchall():
                    verdict = "true" if _truth_overlaps(truth, h, cls, onset, end) else "false"
                    record_label(con, config, alert_id, verdict, note="bench: scripted from ground truth")
                    labels += 1
        alerts = con.execute("select household_id, alert_class, onset_at, end_at, suppressed_by, alert_id, detectors, "
                             "severity, observed_value, expected_value from ops.alerts").fetchall()
        zones = dict(con.execute("select household_id, timezone from raw.households").fetchall())
        events = real["events"] if real else con.execute(
            "select household_id, start_at, end_at from raw.injected_events where kind = 'anomaly'").fetchall()
        faults = [] if real else con.execute(
            "select household_id, start_at, end_at from raw.injected_events where kind = 'fault'").fetchall()
        n_households = con.execute("select count(*) from raw.households").fetchone()[0]
        adaptations = con.execute("select count(*) from ops.alert_adaptations").fetchone()[0]
    return {"start": start, "end": ends[-1], "truth": truth, "alerts": alerts, "events": events, "faults": faults,
            "households": n_households,
            "labels": labels, "adaptations": adaptations, "zones": zones}


def _window(run: dict, first_week: int, weeks: int | None) -> tuple[dt.datetime, dt.datetime]:
    """Weeks first_week+1 .. weeks (None: to the end of the replay, a last partial week included)."""
    return (run["start"] + dt.timedelta(weeks=first_week),
            run["end"] if weeks is None else run["start"] + dt.timedelta(weeks=weeks))


def _counts(run: dict, first_week: int, weeks: int | None) -> dict:
    """The raw counts behind _measure: false alarms sent, household-weeks, events, events found."""
    lo, hi = _window(run, first_week, weeks)
    sent = [a for a in run["alerts"] if a[4] is None]
    events = [ev for ev in run["events"] if lo <= ev[1] < hi]
    return {"sent": sum(1 for a in sent if lo <= a[2] < hi),
            "false": sum(1 for h, c, s, e, *_ in sent if lo <= s < hi and not _truth_overlaps(run["truth"], h, c, s, e)),
            "household_weeks": run["households"] * ((hi - lo) / dt.timedelta(weeks=1)),
            "events": len(events),
            "found": sum(1 for h, s, e in events if any(a[0] == h and a[2] < e and s < a[3] for a in sent))}


def _measure(run: dict, first_week: int, weeks: int | None) -> tuple[float, float, int]:
    """(false alarms per household-week, event recall, events) over weeks first_week+1 .. weeks."""
    lo, hi = _window(run, first_week, weeks)
    sent = [a for a in run["alerts"] if a[4] is None]
    false = sum(1 for h, c, s, e, *_ in sent if lo <= s < hi and not _truth_overlaps(run["truth"], h, c, s, e))
    events = [ev for ev in run["events"] if lo <= ev[1] < hi]
    found = sum(1 for h, s, e in events if any(a[0] == h and a[2] < e and s < a[3] for a in sent))
    household_weeks = run["households"] * ((hi - lo) / dt.timedelta(weeks=1))
    return false / household_weeks, (found / len(events) if events else float("nan")), len(events)


def _fault_recall(run: dict, first_week: int, weeks: int | None) -> float:
    """The share of injected sensor faults starting over weeks first_week+1 .. weeks that some sent
    alert of the household overlaps: what the generic layer's sensor_health alerts are for, and
    what feedback on the generic classes could silence (event recall counts anomalies only)."""
    lo, hi = _window(run, first_week, weeks)
    sent = [a for a in run["alerts"] if a[4] is None]
    faults = [f for f in run["faults"] if lo <= f[1] < hi]
    found = sum(1 for h, s, e in faults if any(a[0] == h and a[2] < e and s < a[3] for a in sent))
    return found / len(faults) if faults else float("nan")


def _false_by_class(run: dict, first_week: int, weeks: int | None, by_household: bool = False) -> str:
    """The false alarms sent over weeks first_week+1 .. weeks by class (or household), most first: what is left."""
    lo, hi = _window(run, first_week, weeks)
    counts = collections.Counter(h if by_household else c for h, c, s, e, held, *_ in run["alerts"]
                                 if held is None and lo <= s < hi
                                 and not _truth_overlaps(run["truth"], h, c, s, e))
    return ", ".join(f"{c} {n}" for c, n in counts.most_common()) or "none"


OPS_ALERT_TABLES = ("alert_adaptations", "alert_feedback", "alert_snoozes", "alert_outbox", "alert_changes", "alerts")


def _prepare_real(seed: int, copies: int, package: Path, work: Path, figures: dict) -> tuple[Path, dict]:
    """The real house and its injected copies built as bench_real builds them; the warehouse
    (its alert tables emptied: `homewatch batch` synced them once, the replays start from none)
    and the truth and events for _replay."""
    import pandas as pd

    from bench import bench_real, realhouse
    from warehouse.connection import writer

    wide = realhouse.load_wide(realhouse.find_house())
    long, injected = realhouse.inject(wide, seed, copies=copies)
    long["sensor"] = long["sensor"].replace(bench_real.SENSOR_MAP)
    csv = work / f"house_seed{seed}.csv"
    long.rename(columns={"reading_at": "timestamp"}).to_csv(csv, index=False)
    (work / f"seed{seed}").mkdir()  # a warehouse keeps its imported models beside it
    db = work / f"seed{seed}" / "house.duckdb"
    step = bench_real.package_step(package)
    with timed(figures, f"seed{seed}_build_s"):
        bench_real.homewatch("ingest", str(csv), "--db", str(db))
        bench_real.homewatch("model", "import", str(package), "--db", str(db))
        bench_real.homewatch("build", "--db", str(db), "--step", step)
        # --force: as in bench_real (injected spikes on the weather station can be physically impossible)
        bench_real.homewatch("batch", "--db", str(db), "--reports-dir", str(db.parent / "reports"), "--force")
    with writer(db) as con:
        for table in OPS_ALERT_TABLES:
            con.execute(f"delete from ops.{table}")
    before, after = pd.Timedelta(step).to_pytimedelta(), bench_real.GRACE.to_pytimedelta()
    windows = [(i.household_id, i.start_at.to_pydatetime() - before, i.end_at.to_pydatetime() + after, i.kind)
               for i in injected.itertuples()]
    real = {"truth": [(h, "anomaly", s, e) for h, s, e, _ in windows],
            "events": [(h, s, e) for h, s, e, _ in windows],
            "kinds": [k for *_, k in windows],
            "end": (wide.index[-1] + (wide.index[1] - wide.index[0])).to_pydatetime()}
    real["weeks"] = int((real["end"] - wide.index[0].normalize().to_pydatetime()) / dt.timedelta(weeks=1))
    return db, real


def _missed(run: dict, kinds: list[str], first_week: int) -> str:
    """The injected incidents of the measured weeks no sent alert overlaps, by kind."""
    lo, hi = _window(run, first_week, None)
    sent = [a for a in run["alerts"] if a[4] is None]
    missed = collections.Counter(k for (h, s, e), k in zip(run["events"], kinds) if lo <= s < hi
                                 and not any(a[0] == h and a[2] < e and s < a[3] for a in sent))
    return ", ".join(f"{k} {n}" for k, n in missed.most_common()) or "none"


def main_real(args, settings: dict) -> None:
    from bench import realhouse

    if realhouse.find_house() is None:
        sys.exit(f"bench_feedback: the real house ({realhouse.HOUSE_CSV}) is not in ../shared/realdata/; nothing to measure")
    if not (args.model / "metadata.json").exists():
        sys.exit(f"bench_feedback: no model package at {args.model} (`homewatch model export production PATH`)")
    seeds = [int(x) for x in args.seeds.split(",")]
    fw = args.feedback_weeks
    figures: dict = {"real_house": True, "model": str(args.model), "copies": args.copies, "seeds": args.seeds,
                     "feedback_weeks": fw}
    if settings:
        figures["settings"] = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    pooled = {"plain": collections.Counter(), "taught": collections.Counter()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in seeds:
            base, real = _prepare_real(seed, args.copies, args.model, work, figures)
            with timed(figures, f"seed{seed}_replay_s"):
                plain = _replay(base, work, real["weeks"], fw, label=False, settings=settings, real=real)
                taught = _replay(base, work, real["weeks"], fw, label=True, settings=settings, real=real)
            first, before, after = _counts(plain, 0, fw), _counts(plain, fw, None), _counts(taught, fw, None)
            pooled["plain"].update(before)
            pooled["taught"].update(after)
            p = f"seed{seed}_"
            figures.update({
                p + "households": plain["households"],
                p + "measured_weeks": round((plain["end"] - plain["start"]) / dt.timedelta(weeks=1) - fw, 2),
                p + "labels_given": taught["labels"], p + "adaptations_logged": taught["adaptations"],
                p + "weeks_1_4_alerts_sent": first["sent"], p + "weeks_1_4_false_alarms": first["false"],
                p + "weeks_1_4_false_per_hh_week": round(first["false"] / first["household_weeks"], 3),
                p + "weeks_1_4_recall": f"{first['found']}/{first['events']}",
                p + "after_alerts_sent_no_feedback": before["sent"],
                p + "after_alerts_sent_feedback": after["sent"],
                p + "after_false_alarms_no_feedback": before["false"],
                p + "after_false_alarms_feedback": after["false"],
                p + "after_false_per_hh_week_no_feedback": round(before["false"] / before["household_weeks"], 3),
                p + "after_false_per_hh_week_feedback": round(after["false"] / after["household_weeks"], 3),
                p + "after_recall_no_feedback": f"{before['found']}/{before['events']}",
                p + "after_recall_feedback": f"{after['found']}/{after['events']}",
                p + "after_false_by_class_no_feedback": _false_by_class(plain, fw, None),
                p + "after_false_by_class_feedback": _false_by_class(taught, fw, None),
                p + "after_false_by_household_no_feedback": _false_by_class(plain, fw, None, by_household=True),
                p + "after_false_by_household_feedback": _false_by_class(taught, fw, None, by_household=True),
                p + "after_missed_no_feedback": _missed(plain, real["kinds"], fw),
                p + "after_missed_feedback": _missed(taught, real["kinds"], fw),
            })
    b, a = pooled["plain"], pooled["taught"]
    figures.update({
        "false_alarms_per_hh_week_after_no_feedback": round(b["false"] / b["household_weeks"], 3),
        "false_alarms_per_hh_week_after_feedback": round(a["false"] / a["household_weeks"], 3),
        "false_alarm_ratio": round(a["false"] / b["false"], 3) if b["false"] else float("nan"),
        "events_after": b["events"],
        "event_recall_after_no_feedback": round(b["found"] / b["events"], 3),
        "event_recall_after_feedback": round(a["found"] / a["events"], 3),
        "recall_change": round((a["found"] - b["found"]) / b["events"], 3),
        "load_average": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    })
    if args.no_record:
        import json

        print(json.dumps(figures, indent=1, default=str))
        return
    record("feedback_real_house", figures, {"false_alarm_ratio": ("<=", 0.5), "recall_change": (">=", -0.01)})


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
    real = parser.add_argument_group("the real house (the module docstring; docs/alerts.md)")
    real.add_argument("--real-house", action="store_true", help="replay the real house and injected copies of it")
    real.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "warehouse" / "data"
                      / "model-packages" / "latest", help="a model package (default: the one `homewatch run` ships)")
    real.add_argument("--copies", type=int, default=10, help="injected copies of the house per seed (default 10)")
    real.add_argument("--seeds", default="1,2", help="injector seeds (default 1,2)")
    parser.add_argument("--no-record", action="store_true", help="print the figures; do not add them to bench/RESULTS.md")
    args = parser.parse_args()
    if args.real_house:
        settings = {k: float(v) if "." in v else int(v) for k, _, v in (x.partition("=") for x in args.set)}
        main_real(args, settings)
        return
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
        "fault_recall_after_no_feedback": round(_fault_recall(plain, args.feedback_weeks, weeks), 3),
        "fault_recall_after_feedback": round(_fault_recall(taught, args.feedback_weeks, weeks), 3),
        "false_alarms_after_no_feedback_by_class": _false_by_class(plain, args.feedback_weeks, weeks),
        "false_alarms_after_feedback_by_class": _false_by_class(taught, args.feedback_weeks, weeks),
        "load_average": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    })
    if args.no_record:
        import json

        print(json.dumps(figures, indent=1, default=str))
        return
    record("feedback", figures, {"false_alarm_ratio": ("<=", 0.5), "recall_change": (">=", -0.01)})


if __name__ == "__main__":
    main()
