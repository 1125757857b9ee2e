"""Benchmark: the generic anomaly layer (any sensor) on a real house and on the simulator.

Issue 15's measures, run against whatever the generic layer is at this commit:
- the real house of ../shared/realdata/ as it is (no labels; taken as incident-free):
  generic anomaly and sensor-health incidents per week, all sensors together;
- the same house with incidents injected into copies (bench/realhouse.py: level shifts, drifts,
  spikes, a stuck sensor, a heating failure, a humidity leak, at varied intensity and length):
  incident recall, median detection delay, false incidents per house-week;
- the simulator: average precision of the per-step generic score against the labelled anomalies
  and sensor faults, and incident recall / false incidents per household-week;
- twenty minutes of 1-second readings on a 1 s grid (subminute(): level shifts and a spike in the
  series' last minutes, and three untouched series): found or not, how many seconds to the alert,
  false incidents;
- a NAB-style table per injected window (detected, how early or late, alerts outside windows),
  written to bench/out/generic_windows_seed<N>.csv.

    .venv/bin/python bench/bench_generic.py [--seeds 1,2] [--sim-households 20 --sim-days 60] [--sim-seed 42]

Incidents are read per household (marts.fct_incidents: what a person is alerted with; the
real-house and false-incident counts) and per sensor (intermediate.int_sensor_incidents: an
injected incident counts as found when an incident on its household and sensor starts between
one step before it and an hour after it ends; its delay is from the injected start to that onset).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench import realhouse  # noqa: E402
from bench._harness import read_sql as _read, record, timed  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "out"
STEP_MINUTES_REAL = 10  # the house reports every 10 minutes
GRACE = pd.Timedelta("1h")

# The generic layer's incidents, one row per sensor incident (for matching injected ones by
# sensor), and per household (what a person is alerted with), each with its kind and onset.
SENSOR_INCIDENTS = """
    select household_id, sensor, kind, onset_at, end_at from intermediate.int_sensor_incidents
"""
HOUSEHOLD_INCIDENTS = """
    select household_id, sensors, kind, onset_at, end_at from marts.fct_incidents
"""
# The per-step generic score (the simulator's average precision): the largest over a step's sensors.
GENERIC_STEP_SCORE = """
    select household_id, step_at, max(greatest(anomaly_score, health_score)) as score
    from intermediate.int_sensor_scores group by all
"""


def _build(db: Path, dbt_vars: dict | None = None) -> None:
    from warehouse.transform import build

    build(db=db, dbt_vars=dbt_vars)



def match(incidents: pd.DataFrame, injected: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """One row per injected incident: the first incident on its sensor that starts in its window."""
    rows = []
    for inj in injected.itertuples():
        mine = incidents[(incidents.household_id == inj.household_id) & (incidents.sensor == inj.sensor)
                         & (incidents.onset_at >= inj.start_at - step) & (incidents.onset_at <= inj.end_at + GRACE)]
        first = mine.sort_values("onset_at").head(1)
        rows.append({**inj._asdict(), "detected": not first.empty,
                     "found_as": first.kind.iloc[0] if not first.empty else None,
                     "delay_min": (first.onset_at.iloc[0] - inj.start_at).total_seconds() / 60 if not first.empty else None})
    return pd.DataFrame(rows).drop(columns="Index")


def outside(incidents: pd.DataFrame, injected: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """Household incidents of the injected copies that overlap no injected window on one of their sensors."""
    keep = []
    for inc in incidents.itertuples():
        mine = injected[(injected.household_id == inc.household_id) & injected.sensor.isin(list(inc.sensors))]
        hit = ((inc.onset_at <= mine.end_at + GRACE) & (inc.end_at >= mine.start_at - step)).any()
        keep.append(not hit)
    return incidents[np.array(keep, dtype=bool)] if len(incidents) else incidents


def real_house(seed: int, figures: dict, work: Path) -> None:
    path = realhouse.find_house()
    wide = realhouse.load_wide(path)
    long, injected = realhouse.inject(wide, seed)
    csv = work / f"house_seed{seed}.csv"
    long.rename(columns={"reading_at": "timestamp"}).to_csv(csv, index=False)
    db = work / f"house_seed{seed}.duckdb"
    from warehouse.ingest import ingest_files

    ingest_files([csv], db=db)
    with timed(figures, f"seed{seed}_build_s"):
        _build(db, {"step_minutes": STEP_MINUTES_REAL})
    sensor_incidents = _read(db, SENSOR_INCIDENTS)
    incidents = _read(db, HOUSEHOLD_INCIDENTS)
    step = pd.Timedelta(minutes=STEP_MINUTES_REAL)
    weeks = (wide.index[-1] - wide.index[0]) / pd.Timedelta("7D")
    real = incidents[incidents.household_id == "belgian"]
    found = match(sensor_incidents[sensor_incidents.household_id != "belgian"], injected, step)
    false = outside(incidents[incidents.household_id != "belgian"], injected, step)
    copies = injected.household_id.nunique()
    figures[f"seed{seed}_real_anomaly_incidents_per_week"] = round((real.kind == "anomaly").sum() / weeks, 2)
    figures[f"seed{seed}_real_health_incidents_per_week"] = round((real.kind == "health").sum() / weeks, 2)
    figures[f"seed{seed}_injected_recall"] = round(found.detected.mean(), 3)
    for kind, group in found.groupby("kind"):
        figures[f"seed{seed}_recall_{kind}"] = round(group.detected.mean(), 3)
    figures[f"seed{seed}_median_delay_min"] = (round(float(found.delay_min.median()), 1)
                                                if found.detected.any() else None)
    figures[f"seed{seed}_false_incidents_per_house_week"] = round(len(false) / weeks / copies, 2)
    OUT_DIR.mkdir(exist_ok=True)
    # the house as it is and the injected copies at each alert threshold of SWEEP (the default
    # is chosen on the simulator; this shows what the choice means here)
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = sensor_runs(con)
    finally:
        con.close()
    rows = []
    for t in SWEEP:
        mine = household_incidents(runs[runs.household_id == "belgian"], t, step)
        alerted = runs[(runs.household_id != "belgian") & (runs.peak_p <= t)].rename(columns={"last_at": "end_at"})
        rows.append({"alert_p": t, "real_anomaly_per_week": (mine.kind == "anomaly").sum() / weeks,
                     "real_health_per_week": (mine.kind == "health").sum() / weeks,
                     "injected_recall": match(alerted, injected, step).detected.mean()})
    pd.DataFrame(rows).to_csv(OUT_DIR / f"generic_real_sweep_seed{seed}.csv", index=False)
    print(pd.DataFrame(rows).round(3).to_string(index=False), file=sys.stderr)
    found.assign(alerts_outside_windows_in_copy=found.household_id.map(false.household_id.value_counts()).fillna(0))\
        .to_csv(OUT_DIR / f"generic_windows_seed{seed}.csv", index=False)
    print(found[["household_id", "kind", "sensor", "start_at", "description", "detected", "found_as", "delay_min"]]
          .to_string(index=False), file=sys.stderr)


# Alert thresholds the default is chosen among (each at most incident_hold_p: the runs are cut there).
SWEEP = (1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3)


def sensor_runs(con: duckdb.DuckDBPyConnection, cooldown_minutes: int = 120) -> pd.DataFrame:
    """int_sensor_incidents before the alert threshold is applied: every run of incident steps
    (one household, sensor and kind; steps closer than the cooldown merged), with its peak p (0
    for a run with a stuck or silent step, which alerts at any threshold). The incidents at an
    alert threshold t are the runs whose peak p is at most t."""
    return con.execute(f"""
        with steps as (
            select *, case when lag(step_at) over w is null
                             or step_at - lag(step_at) over w > interval '{cooldown_minutes} minutes' then 1 else 0 end as is_start
            from intermediate.int_sensor_incident_steps
            window w as (partition by household_id, sensor, kind order by step_at)),
        numbered as (
            select *, sum(is_start) over (partition by household_id, sensor, kind order by step_at
                                          rows between unbounded preceding and current row) as run_number
            from steps)
        -- a stuck or silent sensor alerts at any threshold (its steps carry incident_alert_p / 10)
        select household_id, sensor, kind, min(step_at) as onset_at, max(step_at) as last_at,
               min(case when channel in ('stuck', 'dropout') then 0 else p end) as peak_p
        from numbered group by household_id, sensor, kind, run_number""").df()


def household_incidents(runs: pd.DataFrame, threshold: float, step: pd.Timedelta,
                        cooldown: pd.Timedelta = pd.Timedelta("120min")) -> pd.DataFrame:
    """marts.fct_incidents at an alert threshold, from sensor_runs(): the alerted runs of one
    household and kind that overlap or follow within the cooldown, merged."""
    alerted = runs[runs.peak_p <= threshold].assign(end_at=lambda f: f.last_at + step)
    rows = []
    for (household, kind), group in alerted.sort_values(["onset_at", "sensor"]).groupby(["household_id", "kind"]):
        current = None
        for r in group.itertuples():
            if current is not None and r.onset_at <= current["end_at"] + cooldown:
                current["end_at"] = max(current["end_at"], r.end_at)
                current["sensors"].add(r.sensor)
                continue
            if current is not None:
                rows.append(current)
            current = {"household_id": household, "kind": kind, "onset_at": r.onset_at, "end_at": r.end_at,
                       "sensors": {r.sensor}}
        rows.append(current)
    return pd.DataFrame(rows, columns=["household_id", "kind", "onset_at", "end_at", "sensors"])


def incident_scores(incidents: pd.DataFrame, events: pd.DataFrame, household_weeks: float) -> dict:
    """Recall of the labelled windows (an incident starts inside one, up to an hour after its end),
    false incidents (overlapping no labelled window) per household-week, and their F1."""
    hits = 0
    for ev in events.itertuples():
        mine = incidents[(incidents.household_id == ev.household_id) & (incidents.onset_at >= ev.start_at - pd.Timedelta("5min"))
                         & (incidents.onset_at <= ev.end_at + GRACE)]
        hits += not mine.empty
    false = 0
    for inc in incidents.itertuples():
        mine = events[events.household_id == inc.household_id]
        false += not ((inc.onset_at <= mine.end_at + GRACE) & (inc.end_at >= mine.start_at)).any()
    recall = hits / max(len(events), 1)
    precision = 1 - false / len(incidents) if len(incidents) else 0.0
    return {"recall": recall, "false_per_household_week": false / household_weeks, "precision": precision,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def threshold_sweep(db: Path, days: int) -> pd.DataFrame:
    """The incident measures of each alert threshold in SWEEP on the simulator's training
    households (dim_households' split, as models_ml uses it): the default incident_alert_p is the
    one with the best F1 there."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        train = [h for (h,) in con.execute("select household_id from marts.dim_households where split = 'train'").fetchall()]
        runs = sensor_runs(con)
        events = con.execute("""select household_id, start_at, end_at from raw.injected_events
                                where kind in ('anomaly', 'fault')""").df()
    finally:
        con.close()
    runs, events = runs[runs.household_id.isin(train)], events[events.household_id.isin(train)]
    rows = [{"alert_p": t, **incident_scores(household_incidents(runs, t, pd.Timedelta("5min")), events,
                                             len(train) * days / 7)} for t in SWEEP]
    return pd.DataFrame(rows).assign(train_households=len(train))


def simulator(households: int, days: int, figures: dict, work: Path, seed: int = 42) -> None:
    from sklearn.metrics import average_precision_score

    from simulator.config import SimConfig
    from warehouse.land import land_simulation

    db = work / "sim.duckdb"
    land_simulation(SimConfig(households, days, seed=seed), db=db)
    _build(db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        steps = con.execute(f"""
            with score as ({GENERIC_STEP_SCORE}),
            labelled as (
                select score.*, exists (
                    select 1 from raw.injected_events as e
                    where e.household_id = score.household_id and e.kind in ('anomaly', 'fault')
                      and score.step_at >= e.start_at and score.step_at < e.end_at) as is_labelled
                from score)
            select score, is_labelled from labelled""").df()
        events = con.execute("""select household_id, start_at, end_at from raw.injected_events
                                where kind in ('anomaly', 'fault')""").df()
        incidents = con.execute(HOUSEHOLD_INCIDENTS).df()
    finally:
        con.close()
    sweep = threshold_sweep(db, days)
    OUT_DIR.mkdir(exist_ok=True)
    sweep.to_csv(OUT_DIR / "generic_threshold_sweep_train.csv", index=False)
    print("alert thresholds on the simulator's training households:\n" + sweep.round(4).to_string(index=False), file=sys.stderr)
    figures["sim_train_households"] = int(sweep.train_households.iloc[0])
    for row in sweep.itertuples():
        figures[f"sim_train_alert_p_{row.alert_p:g}_recall"] = round(row.recall, 3)
        figures[f"sim_train_alert_p_{row.alert_p:g}_false_per_household_week"] = round(row.false_per_household_week, 2)
    figures["sim_step_average_precision"] = round(float(average_precision_score(steps.is_labelled, steps.score.fillna(0))), 3)
    figures["sim_labelled_step_share"] = round(float(steps.is_labelled.mean()), 3)
    hits = 0
    for ev in events.itertuples():
        mine = incidents[(incidents.household_id == ev.household_id) & (incidents.onset_at >= ev.start_at - pd.Timedelta("5min"))
                         & (incidents.onset_at <= ev.end_at + GRACE)]
        hits += not mine.empty
    figures["sim_incident_recall"] = round(hits / max(len(events), 1), 3)
    false = 0
    for inc in incidents.itertuples():
        mine = events[events.household_id == inc.household_id]
        false += not ((inc.onset_at <= mine.end_at + GRACE) & (inc.end_at >= mine.start_at)).any()
    figures["sim_false_incidents_per_household_week"] = round(false / (households * days / 7), 2)


# The 1-second series of subminute(): (household, what is done to it, second it starts at).
# Level 100, noise 0.1 (the unknown sensor's spread floor, 0.001 of its level, is 0.1 too).
SUBMINUTE_CASES = (
    ("shifted", "level +1 (ten noise spreads) from minute 10 on", 600),
    ("late_shift", "level +1 from minute 17 on (the last three minutes)", 1020),
    ("late_drop", "level -0.5 (five noise spreads) from minute 16 on", 960),
    ("spike", "one reading +3 (thirty noise spreads) at minute 18", 1080),
    ("quiet", "nothing: white noise", None),
    ("wavy", "nothing: white noise on a 5-minute wave of amplitude 0.3", None),
    ("quantised", "nothing: noise 0.05 reported in steps of 0.1", None),
)


def subminute(figures: dict, work: Path, alert_p: float) -> None:
    """Twenty minutes of 1-second readings of one unknown sensor, in seven households
    (SUBMINUTE_CASES): level shifts and a one-second spike in the series' last minutes, and three
    series left alone (white noise, a wave, a quantised one). Built on a 1 s grid: is each
    incident found (an incident of its household whose onset is at or after its start), how long
    after its start is the alert, and do the untouched series raise anything?"""
    from warehouse.ingest import ingest_files
    from warehouse.transform import build

    rng = np.random.default_rng(3)
    at = pd.date_range("2025-06-01 12:00", periods=1200, freq="1s")
    seconds = np.arange(len(at))
    frames = []
    for household, _, start in SUBMINUTE_CASES:
        value = 100 + rng.normal(0, 0.1, len(at))
        if household in ("shifted", "late_shift"):
            value[start:] += 1.0
        elif household == "late_drop":
            value[start:] -= 0.5
        elif household == "spike":
            value[start] += 3.0
        elif household == "wavy":
            value += 0.3 * np.sin(2 * np.pi * seconds / 300)
        elif household == "quantised":
            value = np.round((100 + rng.normal(0, 0.05, len(at))) * 10) / 10
        frames.append(pd.DataFrame({"household": household, "sensor": "line_pressure", "timestamp": at, "value": value}))
    csv, db = work / "subminute.csv", work / "subminute.duckdb"
    pd.concat(frames).to_csv(csv, index=False)
    ingest_files([csv], db=db)
    with timed(figures, "subminute_build_s"):
        build(db=db, step="1s")
    scores = _read(db, "select household_id, step_at, anomaly_p, health_p from intermediate.int_sensor_scores")
    incidents = _read(db, "select household_id, kind, onset_at, alerted_at from marts.fct_incidents")
    for household, _, start in SUBMINUTE_CASES:
        mine = incidents[incidents.household_id == household]
        p = scores[scores.household_id == household][["anomaly_p", "health_p"]].min(axis=1)
        if start is None:
            figures[f"subminute_{household}_incidents"] = len(mine)
            figures[f"subminute_{household}_min_p"] = float(p.min())
            continue
        start_at = at[start]
        found = mine[mine.onset_at >= start_at - pd.Timedelta("1s")]
        figures[f"subminute_{household}_detected"] = not found.empty
        figures[f"subminute_{household}_kind"] = found.kind.iloc[0] if not found.empty else None
        figures[f"subminute_{household}_delay_s"] = ((found.alerted_at.min() - start_at).total_seconds()
                                                     if not found.empty else None)
        figures[f"subminute_{household}_incidents_before"] = int((mine.onset_at < start_at - pd.Timedelta("1s")).sum())
    figures["subminute_recall"] = round(float(np.mean([figures[f"subminute_{h}_detected"]
                                                       for h, _, s in SUBMINUTE_CASES if s is not None])), 3)
    # the ones of ten noise spreads or more (the five-spread drop of four minutes is the hard case)
    figures["subminute_recall_ten_spreads"] = round(float(np.mean([figures[f"subminute_{h}_detected"]
                                                                   for h in ("shifted", "late_shift", "spike")])), 3)
    figures["subminute_false_incidents"] = int(sum(figures[f"subminute_{h}_incidents"] for h, _, s in SUBMINUTE_CASES
                                                   if s is None)
                                               + sum(figures[f"subminute_{h}_incidents_before"]
                                                     for h, _, s in SUBMINUTE_CASES if s is not None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2", help="injector seeds (default 1,2)")
    parser.add_argument("--sim-households", type=int, default=20)
    parser.add_argument("--sim-days", type=int, default=60)
    parser.add_argument("--sim-seed", type=int, default=42,
                        help="the simulator's seed (default 42); detection figures hold only across seeds")
    parser.add_argument("--skip-sim", action="store_true", help="measure the real house only")
    args = parser.parse_args()
    if realhouse.find_house() is None:
        sys.exit(f"bench_generic: the real house ({realhouse.HOUSE_CSV}) is not in ../shared/realdata/ "
                 "beside the repository; nothing to measure")
    figures: dict = {"load_average_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in [int(s) for s in args.seeds.split(",")]:
            real_house(seed, figures, Path(tmp))
        from warehouse.project_vars import dbt_var

        subminute(figures, Path(tmp), float(dbt_var("incident_alert_p")))
        if not args.skip_sim:
            figures["sim_households"], figures["sim_days"] = args.sim_households, args.sim_days
            figures["sim_seed"] = args.sim_seed
            simulator(args.sim_households, args.sim_days, figures, Path(tmp), seed=args.sim_seed)
    figures["load_average_end"] = round(os.getloadavg()[0], 2)
    seeds = [int(s) for s in args.seeds.split(",")]
    targets = {"subminute_recall_ten_spreads": (">=", 1.0), "subminute_false_incidents": ("<=", 0)}
    for seed in seeds:
        targets[f"seed{seed}_real_anomaly_incidents_per_week"] = ("<=", 5.0)
        targets[f"seed{seed}_real_health_incidents_per_week"] = ("<=", 2.0)
        targets[f"seed{seed}_injected_recall"] = (">=", 0.9)
    figures = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in figures.items()}
    record("generic_layer", figures, targets)


if __name__ == "__main__":
    main()
