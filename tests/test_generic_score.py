"""The calibrated generic score and its incidents, on hand-written rows.

dbt compiles the models once (`dbt compile`: the SQL a full-refresh build runs); each test
writes the model's input tables into a scratch warehouse, runs that SQL, and compares the rows
with values worked out here from the documented definitions (docs/dbt.md, "The generic
anomaly score").
Floating-point results are compared approximately, which dbt's own unit tests cannot do.
"""
from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from warehouse.project_vars import dbt_var
from warehouse.transform import DBT_PROJECT_DIR, dbt_target_path, run_dbt

# the logic's tests pin the alert threshold they were worked out for (the default is chosen on
# the simulator's training households and may move)
STEP_VARS = {"step_minutes": 5, "incident_alert_p": 1e-4}
PRIOR_STEPS = 1440 // 5          # score_prior_days (1) of 5-minute steps
LADDER = dbt_var("score_ladder")   # [0.5, 1, 2, ... 48]


MODELS = {"int_sensor_scores": "intermediate", "int_sensor_score_hours": "intermediate",
          "int_sensor_deviations": "intermediate",
          "int_sensor_incident_steps": "intermediate", "int_sensor_incidents": "intermediate",
          "fct_incidents": "marts"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, str]:
    """The SQL a full-refresh build runs for each model under test, compiled once (the inputs'
    names resolve in any warehouse file called unit.duckdb)."""
    db = tmp_path_factory.mktemp("compile") / "unit.duckdb"
    duckdb.connect(str(db)).close()
    run_dbt(["compile", "--select", *MODELS], db=db, dbt_vars=STEP_VARS)
    root = dbt_target_path(db.resolve()) / "compiled" / "homewatch" / "models"
    return {model: (root / folder / f"{model}.sql").read_text() for model, folder in MODELS.items()}


def run_model(tmp_path: Path, sql: str, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The rows the compiled model `sql` makes from `inputs` ({'schema.table': frame})."""
    con = duckdb.connect(str(tmp_path / "unit.duckdb"))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("create schema if not exists ref")
        con.execute("create or replace table ref.sensor_types as select * from "
                    f"read_csv('{DBT_PROJECT_DIR / 'seeds' / 'sensor_types.csv'}')")
        for name, frame in inputs.items():
            schema, table = name.split(".")
            con.execute(f"create schema if not exists {schema}")
            con.register("frame", frame)
            con.execute(f"create or replace table {schema}.{table} as select * from frame")
            con.unregister("frame")
        return con.execute(sql).df()
    finally:
        con.close()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


# --------------------------------------------------------------------------- calibration


def _tail(counts: list[int], n: int, rung: int, a: float, b: float) -> float:
    """The documented tail share at a rung: history and the reference tail together."""
    return (counts[rung] + PRIOR_STEPS * a * math.exp(-LADDER[rung] / b)) / (n + PRIOR_STEPS)


def _p(z: float, counts: list[int], n: int, a: float, b: float) -> float:
    z = abs(z)
    if z < LADDER[0]:
        return 1.0
    for i in range(len(LADDER) - 1):
        if z < LADDER[i + 1]:
            lo, hi = math.log(_tail(counts, n, i, a, b)), math.log(_tail(counts, n, i + 1, a, b))
            return math.exp(lo + (z - LADDER[i]) / (LADDER[i + 1] - LADDER[i]) * (hi - lo))
    return _tail(counts, n, len(LADDER) - 1, a, b) * math.exp(-(z - LADDER[-1]) / b)


def _hour(household, hour_at, n_level=0, level=None, n_range=0, range_=None) -> dict:
    row = {"household_id": household, "sensor": "s1", "hour_at": ts(hour_at)}
    for channel in ("spike", "level", "sustained", "range", "hold"):
        counts = {"level": level, "range": range_}.get(channel) or [0] * len(LADDER)
        row[f"n_{channel}"] = {"level": n_level, "range": n_range}.get(channel, 0)
        for i, c in enumerate(counts):
            row[f"{channel}_{i}"] = c
    return row


def _deviation(household, step_at, z_level=None, z_range=None, is_stuck=False, z_hold=None) -> dict:
    return {"household_id": household, "sensor": "s1", "step_at": ts(step_at), "value": 1.0,
            "is_missing": False, "is_filled": False, "expected_value": 0.0, "expected_spread": 1.0,
            "baseline_weight": 0.0, "z_spike": None, "z_level": z_level, "z_sustained": None,
            "z_range": z_range, "z_hold": z_hold, "minutes_since_change": 5, "stuck_limit_minutes": 720.0, "is_stuck": is_stuck}


def test_the_hour_counts_are_how_many_steps_reach_each_rung_even_sixty_of_them(tmp_path, compiled):
    """int_sensor_score_hours: per hour and channel, how many steps have a z (n_<channel>) and how
    many reach each rung (|z| >= rung, a z on the rung included). The counts travel packed, 6 bits
    each, so an hour of 60 steps (a 1-minute grid's) that all reach every rung must come out as
    60 in every slot, not spill into the next."""
    channels = ["spike", "level", "sustained", "range", "hold"]
    steps = []
    for minute in range(60):   # hour 1: every spike z beyond the top rung, level z on the first rung
        steps.append({"step_at": ts("2025-01-03 00:00") + pd.Timedelta(minutes=minute), "z_spike": 1000.0,
                      "z_level": -LADDER[0], "z_sustained": None, "z_range": LADDER[minute % len(LADDER)],
                      "z_hold": (-1) ** minute * 0.3 * minute})
    for minute, z in enumerate([None, 0.0, 0.49, 0.5, -2.0, 7.9, -8.0, 48.0, 47.99]):   # hour 2
        steps.append({"step_at": ts("2025-01-03 01:00") + pd.Timedelta(minutes=5 * minute),
                      **{f"z_{c}": z for c in channels}})
    deviations = pd.DataFrame([{**_deviation("h1", "2025-01-03 00:00"), **step} for step in steps])
    for col in [f"z_{c}" for c in channels]:
        deviations[col] = deviations[col].astype("float64")
    out = run_model(tmp_path, compiled["int_sensor_score_hours"], {"intermediate.int_sensor_deviations": deviations})
    assert len(out) == 2
    for row in out.itertuples():
        hour = deviations[deviations.step_at.dt.floor("h") == row.hour_at]
        for c in channels:
            z = hour[f"z_{c}"].dropna().abs()
            assert getattr(row, f"n_{c}") == len(z), (row.hour_at, c)
            for i, rung in enumerate(LADDER):
                assert getattr(row, f"{c}_{i}") == (z >= rung).sum(), (row.hour_at, c, rung)
    first = out[out.hour_at == ts("2025-01-03 00:00")].iloc[0]
    assert [first[f"spike_{i}"] for i in range(len(LADDER))] == [60] * len(LADDER)
    assert first["n_sustained"] == 0 and first["level_0"] == 60 and first["level_1"] == 0


def test_the_score_is_the_tail_probability_of_the_series_own_recent_past(tmp_path, compiled):
    level_counts = [600, 300, 100, 10, 1] + [0] * 7
    range_counts = [20] + [0] * 11
    hours = pd.DataFrame([
        # counted: a day before the steps' hour (inside score_history_days, before score_lag_hours),
        # and the two bounds, both included: exactly 12 hours and exactly 28 days before
        _hour("h1", "2025-01-02 00:00", n_level=600, level=[400, 200, 60, 6, 1] + [0] * 7,
              n_range=1000, range_=range_counts),
        _hour("h1", "2025-01-02 12:00", n_level=200, level=[100, 50, 20, 2] + [0] * 8),
        _hour("h1", "2024-12-06 00:00", n_level=200, level=[100, 50, 20, 2] + [0] * 8),
        # not counted: 4 and 11 hours before (inside the 12-hour lag), 33 days and 28 days and an
        # hour before (outside the 28 days)
        _hour("h1", "2025-01-02 20:00", n_level=5000, level=[5000] * 12),
        _hour("h1", "2025-01-02 13:00", n_level=5000, level=[5000] * 12),
        _hour("h1", "2024-12-01 00:00", n_level=5000, level=[5000] * 12),
        _hour("h1", "2024-12-05 23:00", n_level=5000, level=[5000] * 12),
        _hour("h1", "2025-01-03 00:00", n_level=12),   # the steps' own hour
        _hour("h2", "2025-01-03 00:00", n_level=12),   # a series with no past at all
    ])
    deviations = pd.DataFrame([
        _deviation("h1", "2025-01-03 00:05", z_level=2.0),
        _deviation("h1", "2025-01-03 00:10", z_level=-2.5),
        _deviation("h1", "2025-01-03 00:15", z_level=0.2),
        _deviation("h1", "2025-01-03 00:20", z_level=60.0),
        _deviation("h1", "2025-01-03 00:25", z_level=0.1, is_stuck=True),
        _deviation("h1", "2025-01-03 00:30", z_level=2.0, z_range=0.5),
        # a departure held for score_hold_hours: the hold channel's reference tail exp(-|z| / 0.4)
        # is lighter than the level's (a held departure is rarer than a level one)
        _deviation("h1", "2025-01-03 00:35", z_level=4.0, z_hold=-3.5),
        _deviation("h2", "2025-01-03 00:05", z_level=10.0),
    ])
    for frame in (hours, deviations):
        for col in frame.columns:
            if frame[col].dtype == object and col not in ("household_id", "sensor"):
                frame[col] = frame[col].astype("float64")
    out = run_model(tmp_path, compiled["int_sensor_scores"], {
        "intermediate.int_sensor_score_hours": hours, "intermediate.int_sensor_deviations": deviations})
    got = {(r.household_id, r.step_at.strftime("%H:%M")): r for r in out.itertuples()}
    level = lambda z: _p(z, level_counts, 1000, 1.0, 1.0)  # noqa: E731
    assert got[("h1", "00:05")].p_level == pytest.approx(level(2.0), rel=1e-9)
    assert got[("h1", "00:10")].p_level == pytest.approx(level(2.5), rel=1e-9)
    assert level(2.0) > got[("h1", "00:10")].p_level > level(3.0)       # between the rungs
    assert got[("h1", "00:15")].p_level == 1.0
    assert got[("h1", "00:20")].p_level == pytest.approx(level(60.0), rel=1e-9)
    # one threshold for one channel or four: the smallest p, times the four anomaly channels
    # (level, sustained, range, hold)
    assert got[("h1", "00:05")].anomaly_p == pytest.approx(4 * level(2.0), rel=1e-9)
    assert got[("h1", "00:05")].anomaly_score == pytest.approx(1 - 4 * level(2.0), rel=1e-9)
    assert got[("h1", "00:05")].history_steps == 1000
    p_range = _p(0.5, range_counts, 1000, 0.05, 0.5)
    assert got[("h1", "00:30")].p_range == pytest.approx(p_range, rel=1e-9)
    assert got[("h1", "00:30")].anomaly_p == pytest.approx(4 * min(p_range, level(2.0)), rel=1e-9)
    assert got[("h1", "00:30")].anomaly_channel == "range"
    # the hold channel: no steps of it in the past (n_hold 0), so its reference tail alone,
    # exp(-|z| / 0.4), interpolated log-linearly between rungs 3 and 4
    p_hold = _p(3.5, [0] * 12, 0, 1.0, 0.4)
    assert p_hold == pytest.approx(math.exp(-3.5 / 0.4), rel=1e-9)
    assert got[("h1", "00:35")].p_hold == pytest.approx(p_hold, rel=1e-9)
    assert p_hold < level(4.0)
    assert got[("h1", "00:35")].anomaly_p == pytest.approx(4 * p_hold, rel=1e-9)
    assert got[("h1", "00:35")].anomaly_channel == "hold"
    # a stuck sensor is a health incident whatever its level
    assert got[("h1", "00:25")].health_p == 0.0 and got[("h1", "00:25")].health_kind == "stuck"
    assert got[("h1", "00:05")].health_p == 1.0
    # a series without a past is scored by the reference tail alone: exp(-|z|) for the level
    assert got[("h2", "00:05")].p_level == pytest.approx(math.exp(-10.0), rel=1e-9)
    assert got[("h2", "00:05")].history_steps == 0


# --------------------------------------------------------------------------- warm-up and stuck


def _features(household, step_at, minutes_since_change=10, value=21.0) -> dict:
    return {"household_id": household, "sensor": "tmp1", "sensor_kind": "continuous", "step_at": ts(step_at),
            "value": value, "observed_value": value, "is_missing": False, "is_filled": False,
            "minutes_since_reading": 0, "delta_1": 0.0, "lag_1": value, "lead_1": value,
            "mean_1h": 21.0, "std_1h": 0.1, "mean_3h": 21.0,
            "mean_24h": 20.0, "std_24h": 1.0, "median_3h": 21.0, "robust_std_3h": 0.14826, "delta_std_1h": 0.1,
            "delta_std_24h": 0.1, "is_flat": False, "mean_3h_before": 21.0,
            "minutes_since_change": minutes_since_change}


def _baseline(household, n_days, learned_mean=22.0, learned_spread=0.5) -> dict:
    return {"household_id": household, "sensor": "tmp1", "baseline_date": pd.Timestamp("2025-01-10").date(),
            "hour_of_day": 12, "is_weekend": False, "n_days": n_days, "is_warm": n_days >= 3,
            "expected_value": learned_mean, "expected_mean": learned_mean, "spread": learned_spread,
            "typical_low": 20.0, "typical_high": 23.0, "high_share": 0.0,
            "learned_mean": learned_mean, "learned_spread": learned_spread}


def _range(household, n_past_hours, same_hour_max, any_hour_max) -> dict:
    return {"household_id": household, "sensor": "tmp1", "hour_at": ts("2025-01-10 12:00"),
            "n_past_hours": n_past_hours, "range_low": 10.0, "range_high": 30.0, "range_spread": 2.0,
            "past_max_unchanged_minutes": float(same_hour_max), "past_max_unchanged_any_hour_minutes": float(any_hour_max)}


def test_baselines_blend_in_by_days_learned_and_stuck_is_judged_against_the_series_own_runs(tmp_path, compiled):
    features = pd.DataFrame([
        _features("h1", "2025-01-10 12:00"), _features("h2", "2025-01-10 12:00"), _features("h3", "2025-01-10 12:00"),
        # a quantised sensor whose values rest for up to 100 minutes at this hour, 200 at any hour
        _features("q", "2025-01-10 12:00", minutes_since_change=295),
        _features("q", "2025-01-10 12:05", minutes_since_change=300),
        # a series younger than a week: 12 hours unchanged before it is called stuck
        _features("young", "2025-01-10 12:00", minutes_since_change=715),
        _features("young", "2025-01-10 12:05", minutes_since_change=720),
    ])
    baselines = pd.DataFrame([_baseline("h1", 1), _baseline("h2", 9)])   # h3 has learned nothing yet
    ranges = pd.DataFrame([_range("q", 500, 100, 200), _range("young", 30, 10, 10)])
    out = run_model(tmp_path, compiled["int_sensor_deviations"], {
        "intermediate.int_sensor_features_rolled": features, "intermediate.int_baselines_hour_of_day": baselines,
        "intermediate.int_sensor_ranges": ranges})
    got = {(r.household_id, r.step_at.strftime("%H:%M")): r for r in out.itertuples()}
    # one day learned: weight 1 / (1 + 3); the trailing 24 h carries the rest
    h1 = got[("h1", "12:00")]
    assert h1.baseline_weight == pytest.approx(0.25)
    assert h1.expected_value == pytest.approx(0.25 * 22 + 0.75 * 20)
    assert h1.z_level == pytest.approx((21 - 20.5) / (0.25 * 0.5 + 0.75 * 1.0))
    h2 = got[("h2", "12:00")]
    assert h2.baseline_weight == pytest.approx(0.75)
    assert h2.z_level == pytest.approx((21 - 21.5) / (0.75 * 0.5 + 0.25 * 1.0))
    h3 = got[("h3", "12:00")]   # no baseline: the trailing 24 h alone, from the first hours
    assert h3.baseline_weight == 0 and h3.z_level == pytest.approx(1.0)
    # stuck limit: max(2 x max(100, stuck_minutes 120), 1.5 x 200) = 300 minutes
    assert got[("q", "12:00")].stuck_limit_minutes == pytest.approx(300)
    assert not got[("q", "12:00")].is_stuck and got[("q", "12:05")].is_stuck
    assert got[("young", "12:00")].stuck_limit_minutes == pytest.approx(720)
    assert not got[("young", "12:00")].is_stuck and got[("young", "12:05")].is_stuck
    # the range: inside it z_range is 0
    assert got[("q", "12:00")].z_range == 0


def test_the_hold_channel_is_the_smallest_departure_held_on_one_side_for_score_hold_hours(tmp_path, compiled):
    # no baseline learned: z_level = (mean_1h - mean_24h 20) / std_24h 1 = mean_1h - 20
    hold_steps = 3 * 60 // 5            # score_hold_hours (3) of 5-minute steps
    up = [2.0 + 0.1 * (i % 3) for i in range(hold_steps + 6)]
    up[5] = 1.5                         # the smallest departure inside the first full window
    flips = [3.0] * hold_steps
    flips[20] = -0.5                    # it changed sides once
    down = [-4.0 - 0.2 * (i % 2) for i in range(hold_steps)]
    down[30] = -2.5
    gap = [2.0] * (2 * hold_steps + 2)
    gap[hold_steps + 1] = None          # no z (no 1 h mean) at one step: no window through it is whole
    rows = []
    for household, zs in (("up", up), ("flips", flips), ("down", down), ("gap", gap)):
        for i, z in enumerate(zs):
            row = _features(household, str(ts("2025-01-10 12:00") + pd.Timedelta(minutes=5 * i)))
            row["mean_1h"] = None if z is None else 20.0 + z
            rows.append(row)
    out = run_model(tmp_path, compiled["int_sensor_deviations"], {
        "intermediate.int_sensor_features_rolled": pd.DataFrame(rows),
        "intermediate.int_baselines_hour_of_day": pd.DataFrame([_baseline("nobody", 1)]),
        "intermediate.int_sensor_ranges": pd.DataFrame([_range("nobody", 1, 1, 1)])})
    got = {h: g.sort_values("step_at").reset_index(drop=True) for h, g in out.groupby("household_id")}
    assert got["up"].z_level.to_numpy() == pytest.approx(up)
    # null until the window holds score_hold_hours of steps
    assert got["up"].z_hold[: hold_steps - 1].isna().all()
    # then the smallest |z_level| of the window, with its sign
    assert got["up"].z_hold[hold_steps - 1] == pytest.approx(1.5)
    # six steps on, the 1.5 has left the window: the smallest is 2.0
    assert got["up"].z_hold[hold_steps + 5] == pytest.approx(2.0)
    assert got["flips"].z_hold[hold_steps - 1] == 0
    assert got["down"].z_hold[hold_steps - 1] == pytest.approx(-2.5)
    # a missing z leaves every window through it without a hold, and the windows after it whole
    hold = got["gap"].z_hold
    assert hold[hold_steps] == pytest.approx(2.0)
    assert hold[hold_steps + 1: 2 * hold_steps + 1].isna().all()
    assert hold[2 * hold_steps + 1] == pytest.approx(2.0)


# --------------------------------------------------------------------------- incidents


def _score(step_at, anomaly_p=1.0, health_p=1.0, is_stuck=False, sensor="s1") -> dict:
    return {"household_id": "h1", "sensor": sensor, "step_at": ts(step_at), "value": 1.0, "expected_value": 0.0,
            "anomaly_p": anomaly_p, "health_p": health_p, "anomaly_channel": "level" if anomaly_p < 1 else None,
            "health_kind": "stuck" if is_stuck else ("spike" if health_p < 1 else None), "is_stuck": is_stuck}


def _grid(sensor, step_at, minutes_since_reading, is_missing=True, is_filled=False) -> dict:
    return {"household_id": "h1", "sensor": sensor, "step_at": ts(step_at), "is_missing": is_missing,
            "is_filled": is_filled, "minutes_since_reading": minutes_since_reading}


def test_incident_steps_take_the_hold_threshold_stuck_sensors_and_dropouts_past_the_fill_limit(tmp_path, compiled):
    scores = pd.DataFrame([
        _score("2025-01-01 10:00", anomaly_p=5e-4),    # within the hold threshold
        _score("2025-01-01 10:05", anomaly_p=5e-3),    # not
        _score("2025-01-01 10:10", health_p=0.0, is_stuck=True),
        _score("2025-01-01 10:15", health_p=8e-4),     # a spike within the hold threshold
    ])
    grid = pd.DataFrame([
        _grid("door", "2025-01-01 11:00", 5),          # one lost door reading: not a dropout
        _grid("door", "2025-01-01 12:00", 5), _grid("door", "2025-01-01 12:05", 10),
        _grid("door", "2025-01-01 12:10", 15), _grid("door", "2025-01-01 12:15", 20),   # silent 20 min
        _grid("s1", "2025-01-01 13:00", 10, is_filled=True),    # a filled gap is no dropout either
    ])
    out = run_model(tmp_path, compiled["int_sensor_incident_steps"], {
        "intermediate.int_sensor_scores": scores, "intermediate.int_readings_gridded": grid})
    got = sorted((r.sensor, r.kind, r.step_at.strftime("%H:%M"), r.channel, r.p) for r in out.itertuples())
    alert = 1e-4
    assert got == [("door", "health", "12:10", "dropout", pytest.approx(alert / 10)),
                   ("door", "health", "12:15", "dropout", pytest.approx(alert / 10)),
                   ("s1", "anomaly", "10:00", "level", pytest.approx(5e-4)),
                   ("s1", "health", "10:10", "stuck", pytest.approx(alert / 10)),
                   ("s1", "health", "10:15", "spike", pytest.approx(8e-4))]


def _step(sensor, kind, step_at, p, channel="level", household="h1") -> dict:
    return {"household_id": household, "sensor": sensor, "kind": kind, "step_at": ts(step_at), "p": p,
            "channel": channel, "value": 1.0, "expected_value": 0.0}


def test_an_incident_starts_at_its_onset_alerts_at_the_threshold_and_a_cooldown_keeps_it_one(tmp_path, compiled):
    steps = pd.DataFrame([
        _step("s1", "anomaly", "2025-01-01 10:00", 5e-4),    # hold only: the onset
        _step("s1", "anomaly", "2025-01-01 10:05", 5e-5),    # the alert
        _step("s1", "anomaly", "2025-01-01 10:10", 5e-6, channel="sustained"),   # the peak
        _step("s1", "anomaly", "2025-01-01 11:30", 8e-4),    # 80 minutes later: within the cooldown
        _step("s1", "anomaly", "2025-01-01 13:45", 5e-5),    # 135 minutes after that: a new incident
        _step("s2", "anomaly", "2025-01-01 10:00", 5e-4),    # never reaches the alert: no incident
        _step("s2", "anomaly", "2025-01-01 10:05", 6e-4),
        _step("s1", "health", "2025-01-01 10:05", 1e-5, channel="stuck"),   # another kind: its own
    ])
    out = run_model(tmp_path, compiled["int_sensor_incidents"], {"intermediate.int_sensor_incident_steps": steps})
    out = out.sort_values(["sensor", "kind", "onset_at"]).reset_index(drop=True)
    assert list(zip(out.sensor, out.kind)) == [("s1", "anomaly"), ("s1", "anomaly"), ("s1", "health")]
    first = out.iloc[0]
    assert first.onset_at == ts("2025-01-01 10:00") and first.alerted_at == ts("2025-01-01 10:05")
    assert first.end_at == ts("2025-01-01 11:35") and first.n_steps == 4
    assert first.peak_at == ts("2025-01-01 10:10") and first.channel == "sustained"
    assert first.peak_score == pytest.approx(1 - 5e-6) and first.severity == "medium"
    second = out.iloc[1]
    assert second.onset_at == second.alerted_at == ts("2025-01-01 13:45") and second.severity == "low"


def _sensor_incident(sensor, kind, onset, end, peak_p=1e-5, household="h1") -> dict:
    return {"sensor_incident_id": f"{household}{sensor}{onset}", "household_id": household, "sensor": sensor,
            "kind": kind, "onset_at": ts(onset), "alerted_at": ts(onset), "end_at": ts(end), "n_steps": 3,
            "peak_p": peak_p, "peak_at": ts(onset), "channel": "level", "observed_value": 1.0,
            "expected_value": 0.0, "peak_score": 1 - peak_p, "severity": "medium"}


def test_a_households_sensor_incidents_that_overlap_or_follow_within_the_cooldown_are_one(tmp_path, compiled):
    incidents = pd.DataFrame([
        _sensor_incident("s1", "anomaly", "2025-01-01 10:00", "2025-01-01 11:35"),
        _sensor_incident("s2", "anomaly", "2025-01-01 11:00", "2025-01-01 12:00", peak_p=1e-7),   # overlaps
        _sensor_incident("s3", "anomaly", "2025-01-01 13:30", "2025-01-01 14:00"),   # 90 min after: same
        _sensor_incident("s1", "anomaly", "2025-01-01 16:30", "2025-01-01 17:00"),   # 150 min after: new
        _sensor_incident("s2", "health", "2025-01-01 10:30", "2025-01-01 11:00"),    # another kind
        _sensor_incident("s1", "anomaly", "2025-01-01 10:00", "2025-01-01 11:00", household="h2"),
    ])
    out = run_model(tmp_path, compiled["fct_incidents"], {"intermediate.int_sensor_incidents": incidents})
    out = out.sort_values(["household_id", "kind", "onset_at"]).reset_index(drop=True)
    assert list(zip(out.household_id, out.kind)) == [("h1", "anomaly"), ("h1", "anomaly"), ("h1", "health"),
                                                      ("h2", "anomaly")]
    merged = out.iloc[0]
    assert list(merged.sensors) == ["s1", "s2", "s3"] and merged.n_sensors == 3
    assert merged.onset_at == ts("2025-01-01 10:00") and merged.end_at == ts("2025-01-01 14:00")
    assert merged.peak_sensor == "s2" and merged.severity == "high"
    assert list(out.iloc[1].sensors) == ["s1"] and out.iloc[1].onset_at == ts("2025-01-01 16:30")
    assert out.incident_id.is_unique


# --------------------------------------------------------------------------- incremental builds

GENERIC_TABLES = ["intermediate.int_sensor_ranges", "intermediate.int_sensor_deviations",
                  "intermediate.int_sensor_score_hours", "intermediate.int_sensor_scores",
                  "intermediate.int_sensor_incident_steps", "intermediate.int_sensor_incidents",
                  "marts.fct_incidents"]


def _fingerprint(con, table: str) -> tuple:
    """tests/test_dbt.py's fingerprint (row count and a hash of every row, doubles to 6
    significant digits), with doubles under 1e-9 in size counted as 0: a departure that is 0 in
    one build is -6e-16 in the other when the window sums under it differ in their last bits
    (seen on this data: a z_level), and 6 significant digits of -6e-16 are not 0."""
    schema, name = table.split(".")
    cols = con.execute("select column_name, data_type from information_schema.columns "
                       "where table_schema = ? and table_name = ? order by ordinal_position", [schema, name]).fetchall()
    sig = ("case when {c} is null or isinf({c}) or isnan({c}) then {c} when abs({c}) < 1e-9 then 0.0 "
           "else round({c} * (1 + 1e-12), (5 - floor(log10(abs({c}))))::int) end")
    exprs = [sig.format(c=c) if t == "DOUBLE" else f"{c}::varchar" for c, t in cols if c != "processed_at"]
    return con.execute(f"select count(*), bit_xor(hash({', '.join(exprs)})) from {table}").fetchone()


def test_incremental_equals_full_refresh_when_the_history_windows_cross_the_batch_boundary(tmp_path):
    """tests/test_dbt.py checks incremental == full refresh on 6 days, shorter than the 28-day
    history windows, so a lookback that reads too little history would pass there. Here the
    history is 2 days (the range needs 1) and the appended day's windows reach back across the
    previous batch: every generic table must come out as a full refresh makes it."""
    from simulator.config import SimConfig
    from warehouse.land import land_simulation
    from warehouse.transform import build

    short = {"score_history_days": 2, "range_min_days": 1, "score_lag_hours": 6}
    db = tmp_path / "w.duckdb"
    land_simulation(SimConfig(households=2, days=4, seed=5), db=db)
    build(db=db, dbt_vars=short)
    land_simulation(db=db, append_days=1)
    build(db=db, dbt_vars=short)
    con = duckdb.connect(str(db), read_only=True)
    try:
        incremental = {t: _fingerprint(con, t) for t in GENERIC_TABLES}
        # the windows did reach across: the appended day's scores stand on 2 days of history
        # and its range on at least a day of hours
        history, ranged = con.execute("""
            select max(history_steps), count(*) filter (where z_range is not null)
            from intermediate.int_sensor_scores where step_at >= (select max(step_at) - interval 12 hour
                                                                  from intermediate.int_sensor_scores)""").fetchone()
    finally:
        con.close()
    assert history > 24 * 12 and ranged > 0
    build(db=db, full_refresh=True, dbt_vars=short)
    con = duckdb.connect(str(db), read_only=True)
    try:
        full = {t: _fingerprint(con, t) for t in GENERIC_TABLES}
    finally:
        con.close()
    assert incremental == full


# --------------------------------------------------------------------------- sub-minute grids

SECOND_VARS = {"step_seconds": 1, "incident_alert_p": 1e-4}


@pytest.fixture(scope="module")
def compiled_1s(tmp_path_factory) -> dict[str, str]:
    """The same models compiled for a 1-second grid."""
    db = tmp_path_factory.mktemp("compile_1s") / "unit.duckdb"
    duckdb.connect(str(db)).close()
    run_dbt(["compile", "--select", *MODELS], db=db, dbt_vars=SECOND_VARS)
    root = dbt_target_path(db.resolve()) / "compiled" / "homewatch" / "models"
    return {model: (root / folder / f"{model}.sql").read_text() for model, folder in MODELS.items()}


def test_on_a_1_second_grid_the_level_is_the_last_60_steps_against_the_robust_trailing_window(tmp_path, compiled_1s):
    # five minutes of 1-second readings around 100 (a repeating pattern, so the median and MAD
    # are known), shifted by +1 from step 240 on; the rolling features' own 1 h / 24 h columns
    # are set to the quiet level, so only the score's 60-step windows can see the shift
    pattern = [0.0, 0.1, -0.1, 0.05, -0.05, 0.2, -0.2]
    values = [100 + pattern[i % len(pattern)] + (1.0 if i >= 240 else 0.0) for i in range(300)]
    rows = []
    for i, v in enumerate(values):
        row = _features("s", str(ts("2025-06-01 12:00") + pd.Timedelta(seconds=i)), value=v)
        row.update({"mean_1h": 100.0, "mean_24h": 100.0, "std_24h": 0.1, "robust_std_3h": 0.14826, "lag_1": v, "lead_1": v})
        rows.append(row)
    out = run_model(tmp_path, compiled_1s["int_sensor_deviations"], {
        "intermediate.int_sensor_features_rolled": pd.DataFrame(rows),
        "intermediate.int_baselines_hour_of_day": pd.DataFrame([_baseline("nobody", 1)]),
        "intermediate.int_sensor_ranges": pd.DataFrame([_range("nobody", 1, 1, 1)])})
    got = out.sort_values("step_at").reset_index(drop=True)
    series = pd.Series(values)

    def z(t: int) -> float:
        before = series[max(0, t - 1439): t - 60 + 1]      # the 1,440-step window less the last 60
        centre = before.median()
        spread = max(1.4826 * (before - centre).abs().median(), 0.001 * 100)   # unknown sensor's floor
        return (series[t - 59: t + 1].mean() - centre) / spread

    # warm-up: no level until the trailing window holds a short window (60 steps) of its own
    assert got.z_level[:119].isna().all() and not math.isnan(got.z_level[119])
    for t in (119, 200, 250, 299):
        assert got.z_level[t] == pytest.approx(z(t), rel=1e-9), t
    # the shift, a minute on, stands at 1 / (1.4826 x the pattern's MAD 0.1) = 6.7 spreads (the
    # features' 1 h and 24 h means, which see nothing, are not what it is read from)
    assert got.z_level[299] == pytest.approx(1 / (1.4826 * 0.1), rel=0.01)
    assert got.expected_value[299] == pytest.approx(series[:240].median())
    # the hold channel is 180 steps (3 "hours" of 1-minute steps) of z_level: full from step
    # 119 + 179 on (a 3-hour window of 1-second steps would never fill in five minutes)
    assert got.z_hold[:298].isna().all() and not math.isnan(got.z_hold[298])


def test_on_a_1_second_grid_the_history_lag_prior_and_cooldown_count_steps(tmp_path, compiled_1s):
    level_counts = [600, 300, 100, 10, 1] + [0] * 7
    hours = pd.DataFrame([
        # calibration buckets are 60 steps (a minute): 13 minutes back is past the 12-step-hours lag
        _hour("h1", "2025-01-03 11:47", n_level=1000, level=level_counts),
        _hour("h1", "2025-01-03 11:55", n_level=5000, level=[5000] * 12),   # inside the lag: not counted
        _hour("h1", "2025-01-03 00:00", n_level=5000, level=[5000] * 12),   # 12 h back: past 28 x 24 minutes
        _hour("h1", "2025-01-03 12:00", n_level=60),
    ])
    deviations = pd.DataFrame([_deviation("h1", "2025-01-03 12:00:30", z_level=2.0)])
    for frame in (hours, deviations):
        for col in frame.columns:
            if frame[col].dtype == object and col not in ("household_id", "sensor"):
                frame[col] = frame[col].astype("float64")
    out = run_model(tmp_path, compiled_1s["int_sensor_scores"], {
        "intermediate.int_sensor_score_hours": hours, "intermediate.int_sensor_deviations": deviations})
    prior = 1440                      # score_prior_days (1) of 1-minute steps, as 1-second steps
    tail = lambda i: (level_counts[i] + prior * math.exp(-LADDER[i])) / (1000 + prior)  # noqa: E731
    assert out.history_steps.iloc[0] == 1000
    assert out.p_level.iloc[0] == pytest.approx(tail(2), rel=1e-9)   # z 2.0 is rung 2
    # incidents: the cooldown is 120 steps (two minutes), so runs 150 s apart are two incidents
    steps = pd.DataFrame([_step("s1", "anomaly", "2025-01-01 10:00:00", 5e-5),
                          _step("s1", "anomaly", "2025-01-01 10:01:30", 5e-5),   # 90 s on: the same
                          _step("s1", "anomaly", "2025-01-01 10:04:00", 5e-5)])  # 150 s on: a new one
    incidents = run_model(tmp_path, compiled_1s["int_sensor_incidents"], {"intermediate.int_sensor_incident_steps": steps})
    assert sorted(incidents.onset_at) == [ts("2025-01-01 10:00:00"), ts("2025-01-01 10:04:00")]
    assert sorted(incidents.end_at) == [ts("2025-01-01 10:01:31"), ts("2025-01-01 10:04:01")]
