"""The simulator: determinism, prefix stability, normal patterns, injected events."""
from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pytest

import json

import simulator.generate as generate
from simulator.config import ANOMALY_TYPES, EVENT_SPECS, EVIDENCE_SENSOR, FAULT_TYPES, NORMAL_TYPES, SENSORS, SimConfig
from simulator.events import shower_avoid_hours, shower_hours
from simulator.generate import _apply_faults, simulate_household
from simulator.profiles import draw_profile
from simulator.routine import paint
from simulator.signals import SOLAR_DAILY_MEAN_C, heating_season, pulses
from tests.conftest import SAMPLE, TINY, checksum
from warehouse.land import land_simulation


def _mask_around(sim, n, spd, kinds=("anomaly", "fault"), types=()):
    """Steps within half a day of any event of the given kinds or types."""
    bad = np.zeros(n, dtype=bool)
    for ev in sim.events:
        if ev["kind"] in kinds or ev["event_type"] in types:
            bad[max(ev["s"] - spd // 2, 0) : ev["e"] + spd // 2] = True
    return bad


def test_same_parameters_give_identical_warehouses(tiny_db, tmp_path):
    again = tmp_path / "again.duckdb"
    land_simulation(TINY, db=again)
    assert checksum(again) == checksum(tiny_db)
    other = tmp_path / "other.duckdb"
    land_simulation(dataclasses.replace(TINY, seed=TINY.seed + 1), db=other)
    assert checksum(other)[0] != checksum(tiny_db)[0]


def test_append_equals_simulating_the_longer_period_at_once(tmp_path):
    short, once = tmp_path / "short.duckdb", tmp_path / "once.duckdb"
    config = SimConfig(households=3, days=9, seed=5)
    land_simulation(dataclasses.replace(config, days=5), db=short)
    result = land_simulation(db=short, append_days=4)
    assert (result.first_day, result.days) == (5, 9)
    land_simulation(config, db=once)
    assert checksum(short) == checksum(once)


def test_append_continues_cleanly(tmp_path):
    db = tmp_path / "w.duckdb"
    land_simulation(SimConfig(households=2, days=3, seed=3), db=db)
    land_simulation(db=db, append_days=1)
    con = duckdb.connect(str(db), read_only=True)
    dupes = con.execute(
        "select count(*) from (select household_id, sensor, reading_at from raw.readings group by all having count(*) > 1)"
    ).fetchone()[0]
    per_batch = con.execute(
        "select batch_id, min(reading_at), max(reading_at), count(distinct household_id) from raw.readings "
        "group by 1 order by 2"
    ).fetchall()
    days = con.execute("select days from raw.simulations").fetchone()[0]
    con.close()
    assert dupes == 0
    assert days == 4
    (first, _, first_end, hh1), (second, second_start, _, hh2) = per_batch
    assert (second_start - first_end).total_seconds() == 300  # the next 5-minute step, no gap, no overlap
    assert hh1 == hh2 == 2 and first != second


def test_readings_are_long_format_with_dropouts_missing_not_zero(tiny_db):
    con = duckdb.connect(str(tiny_db), read_only=True)
    total_steps = TINY.n_steps * TINY.households
    per_sensor = dict(con.execute("select sensor, count(*) from raw.readings group by 1").fetchall())
    in_hub_dropouts = con.execute(
        "select count(*) from raw.readings r join raw.injected_events e on r.household_id = e.household_id "
        "and r.reading_at >= e.start_at and r.reading_at < e.end_at "
        "where e.event_type = 'dropout' and (e.sensor is null or e.sensor = r.sensor)"
    ).fetchone()[0]
    n_dropouts = con.execute("select count(*) from raw.injected_events where event_type = 'dropout'").fetchone()[0]
    kits = [json.loads(p)["sensors"] for (p,) in con.execute("select profile from raw.households").fetchall()]
    con.close()
    assert set(per_sensor) == {s for kit in kits for s in kit}  # every sensor some home has, none other
    for sensor, n in per_sensor.items():
        having = sum(sensor in kit for kit in kits) * TINY.n_steps  # a home lacking a sensor reports none
        assert 0.97 * having < n < having, sensor
    assert n_dropouts > 0 and in_hub_dropouts == 0


def test_every_anomaly_class_fault_and_hard_negative_is_recorded(sample_sims):
    events = [ev for sim in sample_sims for ev in sim.events]
    types = {ev["event_type"] for ev in events}
    assert set(ANOMALY_TYPES) | set(FAULT_TYPES) | set(NORMAL_TYPES) <= types
    assert {ev["anomaly_class"] for ev in events if ev["kind"] == "anomaly"} == {1, 2, 3, 4, 5}
    for ev in events:
        spec = EVENT_SPECS.get(ev["event_type"])
        assert ev["kind"] == (spec.kind if spec else "normal")
        assert ev["e"] > ev["s"] and ev["description"]


def test_ground_truth_lands_as_events(tiny_db):
    con = duckdb.connect(str(tiny_db), read_only=True)
    rows = con.execute(
        "select kind, anomaly_class, count(*), bool_and(end_at > start_at), bool_and(description <> '') "
        "from raw.injected_events group by all"
    ).fetchall()
    con.close()
    kinds = {r[0] for r in rows}
    assert kinds == {"anomaly", "fault", "normal"}
    assert all(r[3] and r[4] for r in rows)
    assert all(r[1] == 0 for r in rows if r[0] != "anomaly")


def _steps(sim, ev, n):
    return slice(ev["s"], min(ev["e"], n))


def test_injected_anomalies_change_the_signals(sample_sims):
    n = SAMPLE.n_steps
    seen = set()
    for sim in sample_sims:
        v, p = sim.values, sim.profile
        faulty = _mask_around(sim, n, 0, kinds=("fault",))
        for ev in sim.events:
            if ev["kind"] != "anomaly" or ev["e"] > n:
                continue
            window = _steps(sim, ev, n)
            clean = ~faulty[window]
            if not clean.any():
                continue
            kind = ev["event_type"]
            if kind == "heating_failure" and ev["e"] - ev["s"] >= 72:  # 6 h: the room has had time to cool
                end = slice(ev["e"] - 6, ev["e"])
                assert np.median(v["temperature"][end]) < p.setpoint_day - 0.6 * ev["intensity"]
            elif kind == "fridge_failure":
                assert np.all(v["fridge_power"][window][clean] <= 3.0)
            elif kind == "fire":
                assert np.all(v["fire_alarm"][window] == 1.0)
                assert v["temperature"][window].max() > np.median(v["temperature"][ev["s"] - 12 : ev["s"]]) + 3
            elif kind == "door_at_night":
                assert np.all(v["door"][window] == 1.0)
            elif kind in ("humidity_leak", "humidity_steam") and ev["e"] - ev["s"] >= 12:
                assert v["humidity"][window][clean].max() >= 75.0
            else:
                continue
            seen.add(kind)
    assert seen == {"heating_failure", "fridge_failure", "fire", "door_at_night", "humidity_leak", "humidity_steam"}


def test_each_fault_kind_corrupts_its_sensor_as_described():
    n = 20
    values = {s: np.full(n, 10.0) for s in ("temperature", "humidity", "fridge_power", "motion", "door", "fire_alarm")}
    values["temperature"] = np.arange(n, dtype=float)
    z = np.random.default_rng(0).standard_normal(n)
    fault = lambda kind, sensor, s, e, intensity=None: {  # noqa: E731
        "kind": "fault", "event_type": kind, "sensor": sensor, "s": s, "e": e, "intensity": intensity}
    valid = _apply_faults(values, [
        fault("stuck", "temperature", 2, 6),
        fault("spike", "fridge_power", 3, 4, 900.0),
        fault("noise_burst", "humidity", 10, 15, 10.0),
        fault("drift", "fridge_power", 10, 20, 5.0),
        fault("dropout", None, 16, 18),
        fault("dropout", "door", 0, 2),
    ], z, n)
    assert values["temperature"][2:6].tolist() == [2.0] * 4 and values["temperature"][6] == 6.0
    assert values["fridge_power"][3] == 910.0 and values["fridge_power"][2] == 10.0
    assert np.std(values["humidity"][10:15]) > 3.0 and np.all(values["humidity"][:10] == 10.0)
    assert values["fridge_power"][19] == pytest.approx(14.5) and values["fridge_power"][10] == 10.0
    assert not any(valid[s][16:18].any() for s in valid) and all(valid[s][15] for s in valid)
    assert valid["door"][:2].tolist() == [False, False] and valid["motion"][:2].all()


def test_sensor_faults_in_simulated_homes(sample_sims):
    n = SAMPLE.n_steps
    seen = set()
    for sim in sample_sims:
        for ev in sim.events:
            if ev["kind"] != "fault" or ev["e"] > n:
                continue
            window, sensor, kind = _steps(sim, ev, n), ev["sensor"], ev["event_type"]
            if kind == "dropout":
                sensors = [sensor] if sensor else list(sim.valid)
                assert not any(sim.valid[s][window].any() for s in sensors)
            elif kind == "stuck":
                assert np.ptp(sim.values[sensor][window]) == 0.0
            elif kind == "spike":
                assert abs(sim.values[sensor][ev["s"]] - sim.values[sensor][ev["s"] - 1]) > 5.0
            seen.add(kind)
    assert {"dropout", "stuck", "spike", "noise_burst"} <= seen


def test_humidity_peaks_at_each_households_shower_time(sample_sims):
    spd = SAMPLE.steps_per_day
    weekday = np.array([(SAMPLE.start.weekday() + d) % 7 < 5 for d in range(SAMPLE.days)])
    for sim in sample_sims:
        bad = _mask_around(sim, SAMPLE.n_steps, spd, types=("late_shower",)).reshape(-1, spd).any(axis=1)
        peak_hour = sim.values["humidity"].reshape(-1, spd).argmax(axis=1) * SAMPLE.step_minutes / 60
        gap = np.min([np.abs(peak_hour - h) for h in shower_hours(sim.profile)], axis=0)
        near = np.minimum(gap, 24 - gap)[weekday & ~bad] < max(1.5, 2 * sim.profile.shower_jitter)
        assert near.size >= 10 and near.mean() >= 0.7, sim.household_id


def test_temperature_follows_the_set_point_and_night_setback(sample_sims):
    spd = SAMPLE.steps_per_day
    hours = np.arange(spd) * SAMPLE.step_minutes / 60
    evening, night = (hours >= 19.5) & (hours < 21), (hours >= 3) & (hours < 4)
    january = np.arange(SAMPLE.days) < 28
    for sim in sample_sims:
        p = sim.profile
        bad = _mask_around(sim, SAMPLE.n_steps, spd).reshape(-1, spd).any(axis=1)
        temp = sim.values["temperature"].reshape(-1, spd)[january & ~bad]
        assert abs(np.median(temp[:, evening]) - p.setpoint_day) < 1.0, sim.household_id
        assert abs(np.median(temp[:, night]) - (p.setpoint_day - p.night_setback)) < 1.0, sim.household_id


def test_seasons_show_over_a_year():
    config = SimConfig(households=1, days=365, seed=3)
    sim = simulate_household(config, 0)
    month = (np.arange(config.n_steps) // config.steps_per_day) // 30.5
    jan, jul = month == 0, month == 6
    for sensor in ("temperature", "humidity"):
        assert np.median(sim.values[sensor][jul]) > np.median(sim.values[sensor][jan]) + 2, sensor
    # A warm kitchen makes the compressor run longer: mean power (duty) rises in summer.
    assert sim.values["fridge_power"][jul].mean() > sim.values["fridge_power"][jan].mean() * 1.05
    airing_months = {ev["s"] // config.steps_per_day // 30.5 for ev in sim.events if ev["event_type"] == "airing"}
    assert airing_months and 6 not in airing_months  # windows are aired to cool rooms only in cold months


def test_households_differ(sample_sims):
    habits = {(sim.profile.setpoint_day, sim.profile.wake_weekday, sim.profile.shower_peak) for sim in sample_sims}
    assert len(habits) == len(sample_sims)


def test_paint_and_pulses():
    assert paint(6, [1, 3], [2, 9]).tolist() == [False, True, False, True, True, True]
    p = pulses(10, [2], [4], [10.0], 0.01, 1.0)
    assert p[:2].tolist() == [0.0, 0.0]
    assert p[2] == pytest.approx(10.0) and p[3] == pytest.approx(10.0)
    assert 0 < p[5] < p[4] < 10.0  # decays after the pulse ends


def test_bad_parameters_are_rejected_with_a_reason():
    from simulator.config import ConfigError

    with pytest.raises(ConfigError, match="step_minutes must divide a day"):
        SimConfig(step_minutes=7)
    with pytest.raises(ConfigError, match="households must be at least 1"):
        SimConfig(households=0)


# --- varied homes (issue 16 §1) ------------------------------------------------------------


def _household_where(seed, predicate, limit=400) -> int:
    return next(i for i in range(limit) if predicate(draw_profile(seed, i)))


def test_homes_vary_within_the_reading_budget():
    """Sensor kits: about a quarter of homes have each context sensor, some lack core sensors,
    and a home has about as many sensors as before (the reading count stays within +10 %)."""
    profiles = [draw_profile(42, i) for i in range(1000)]
    kits = [set(p.sensors) for p in profiles]
    for context in ("outdoor_temperature", "bathroom_temperature"):
        assert 0.22 <= np.mean([context in k for k in kits]) <= 0.34, context
    assert np.mean([len(k) for k in kits]) <= 6 * 1.10
    assert np.mean([len(k) < 6 and "fridge_power" not in k for k in kits]) > 0.05
    assert any(k == {"temperature", "humidity", "outdoor_temperature", "bathroom_temperature"} for k in kits)
    assert all({"temperature", "humidity"} <= k for k in kits)
    assert all(("door" in k) == ("motion" in k) for k in kits)  # the door rule learns sleep from motion
    assert np.mean([p.shower_two_times for p in profiles]) > 0.15
    assert np.mean([p.shower_decay_min >= 40 for p in profiles]) > 0.2
    assert np.mean([p.heating_seasonal for p in profiles]) > 0.25
    assert np.mean([p.temperature_step == 0.5 for p in profiles]) > 0.1
    assert np.mean([p.humidity_step == 1.0 for p in profiles]) > 0.1


def test_a_home_without_a_sensor_reports_nothing_and_shows_no_event_of_it():
    seed = 42
    index = _household_where(seed, lambda p: "fridge_power" not in p.sensors and "door" not in p.sensors)
    sim = simulate_household(SimConfig(households=index + 1, days=42, seed=seed), index)
    absent = set(SENSORS) - set(sim.profile.sensors)
    assert {"fridge_power", "motion", "door", "fire_alarm"} <= absent  # the climate kit
    assert not any(sim.valid[s].any() for s in absent)
    assert all(sim.valid[s].mean() > 0.9 for s in sim.profile.sensors)
    for ev in sim.events:
        assert EVIDENCE_SENSOR.get(ev["event_type"], ev["sensor"]) not in absent, ev["event_type"]
    types = {ev["event_type"] for ev in sim.events}
    assert {"heating_failure", "shower"} <= types and not types & {"fridge_failure", "door_at_night", "fire", "defrost"}


def test_context_sensors_read_the_outside_and_the_bathroom_warming_with_showers():
    seed = 42
    index = _household_where(seed, lambda p: {"outdoor_temperature", "bathroom_temperature"} <= set(p.sensors))
    config = SimConfig(households=index + 1, days=28, seed=seed)
    sim = simulate_household(config, index)
    v, per_30min = sim.values, 30 // config.step_minutes
    assert np.median(v["outdoor_temperature"]) < np.median(v["temperature"]) - 8  # January outside
    warmed, stayed = [], []
    for ev in sim.events:
        s = ev["s"]
        if s < per_30min or s + per_30min >= config.n_steps:
            continue
        rise = v["bathroom_temperature"][s : s + per_30min].max() - v["bathroom_temperature"][s - per_30min : s].min()
        if ev["event_type"] == "shower":
            warmed.append(rise)
        elif ev["event_type"] in ("humidity_leak", "humidity_steam"):
            stayed.append(rise)
    assert len(warmed) > 20 and np.mean(np.array(warmed) >= 1.0) > 0.8  # what the humidity rule reads
    assert all(r < 1.0 for r in stayed)  # leaks and steam do not warm the bathroom


def _humid_spans(sim, step_minutes):
    """Minutes bathroom humidity stays at 75 %RH or more after each first shower of a day."""
    high, spans = sim.values["humidity"] >= 75.0, []
    for ev in sim.events:
        if ev["event_type"] == "shower" and ev["key"][1] == 0 and high[ev["s"] + 1]:
            spans.append(np.argmin(high[ev["s"] + 1 :]) * step_minutes)
    return np.array(spans)


def test_slow_bathrooms_stay_humid_longer(monkeypatch):
    seed = 42
    index = _household_where(seed, lambda p: p.shower_decay_min >= 90)
    config = SimConfig(households=index + 1, days=28, seed=seed)
    slow = _humid_spans(simulate_household(config, index), config.step_minutes)
    real_draw = generate.draw_profile
    monkeypatch.setattr(generate, "draw_profile",
                        lambda s, i: dataclasses.replace(real_draw(s, i), shower_decay_min=20.0))
    fast = _humid_spans(simulate_household(config, index), config.step_minutes)
    assert len(slow) > 10 and np.median(slow) >= 30 and np.median(slow) >= np.median(fast) + 10


def test_two_time_households_shower_morning_and_evening_and_anomalies_keep_away():
    seed = 42
    index = _household_where(seed, lambda p: p.shower_two_times)
    config = SimConfig(households=index + 1, days=84, seed=seed)
    sim = simulate_household(config, index)
    hours = shower_hours(sim.profile)
    starts = np.array([ev["s"] % config.steps_per_day * config.step_minutes / 60
                       for ev in sim.events if ev["event_type"] == "shower" and ev["key"][1] == 0])
    near = [np.abs(starts - h) < 2.0 for h in hours]
    assert min(m.mean() for m in near) > 0.2 and np.mean(near[0] | near[1]) > 0.8
    avoid, leaks = shower_avoid_hours(sim.profile), 0
    for ev in sim.events:
        if ev["event_type"] in ("humidity_leak", "humidity_steam"):
            hour = ev["s"] % config.steps_per_day * config.step_minutes / 60
            gaps = [min(abs(hour - h), 24 - abs(hour - h)) for h in hours]
            assert min(gaps) >= avoid - config.step_minutes / 60
            leaks += 1
    assert leaks > 0


def test_heating_switched_off_for_the_season_lets_the_room_run_free(monkeypatch):
    seed = 42
    index = _household_where(seed, lambda p: p.heating_seasonal)
    config = SimConfig(households=index + 1, days=200, seed=seed)
    seasonal = simulate_household(config, index)
    real_draw = generate.draw_profile
    monkeypatch.setattr(generate, "draw_profile",
                        lambda s, i: dataclasses.replace(real_draw(s, i), heating_seasonal=False))
    always = simulate_household(config, index)
    spd = config.steps_per_day
    differs = (seasonal.values["temperature"] != always.values["temperature"]).reshape(-1, spd).mean(axis=1) > 0.5
    first_off = int(np.argmax(differs))
    assert differs.any() and 90 < first_off < 200  # switched off in spring, never in winter
    # heating failures only while the heating is on: none begins in the heating-off days
    off_days = set(np.flatnonzero(differs))
    failures = [ev for ev in seasonal.events if ev["event_type"] == "heating_failure"]
    assert failures and all(ev["s"] // spd not in off_days for ev in failures)
    assert len(failures) < len([ev for ev in always.events if ev["event_type"] == "heating_failure"])
    # running free the room is cooler than the set-point on the mornings the heating would have warmed
    mornings = (np.arange(config.n_steps) % spd) // (spd // 24) == 7
    off = np.repeat(differs, spd) & mornings
    assert np.mean(seasonal.values["temperature"][off]) < np.mean(always.values["temperature"][off]) - 0.5


def test_heating_goes_back_on_when_the_room_running_free_would_be_colder_than_the_comfort_floor():
    prof = dataclasses.replace(draw_profile(42, 0), heating_seasonal=True, heating_off_above=12.0,
                               heating_off_days=3, internal_gains=3.0, comfort_floor=16.0)
    free_at = lambda outdoor: outdoor + prof.internal_gains + SOLAR_DAILY_MEAN_C  # noqa: E731
    # a mild spell (the room runs free at about 17 degC), then a cool one: 10 degC outside is not
    # "cold" (below 12 - 3 degC) for the outdoor rule, but the room would sit near 13 degC
    outdoor = np.array([5.0] * 5 + [14.0] * 8 + [10.0] * 6 + [14.0] * 8)
    assert free_at(14.0) >= prof.comfort_floor > free_at(10.0)
    on = heating_season(prof, outdoor)
    assert on[:16].tolist() == [True] * 8 + [False] * 6 + [True] * 2   # off after 3 mild days; on the morning after the first cool day
    assert not on[-4:].any()          # off again after 3 more mild days
    # never off on the morning after a day the room would have been too cold running free
    assert not any(not on[d] and free_at(outdoor[d - 1]) < prof.comfort_floor for d in range(1, len(outdoor)))
    # the outdoor rule alone keeps it off through the cool spell
    floorless = heating_season(dataclasses.replace(prof, comfort_floor=-np.inf), outdoor)
    assert not floorless[8:20].any()
    # and a room that would be too cold even on mild days keeps its heating on
    assert heating_season(dataclasses.replace(prof, comfort_floor=18.0), outdoor).all()


def test_a_longer_run_switches_the_heating_on_and_off_on_the_same_days():
    """`simulate --append` is exact only if the heating season of the first days does not
    depend on how many days are drawn (the comfort floor reads the day before, never after)."""
    from simulator.routine import Timeline
    from simulator.signals import weather

    seed = 42

    def season(index: int, days: int) -> np.ndarray:
        prof = draw_profile(seed, index)
        config = SimConfig(households=index + 1, days=days, seed=seed)
        return heating_season(prof, weather(Timeline(config), prof, seed, index)[0])

    # a home whose heating goes off and back on within the shorter run's 150 days
    index = next(i for i in range(60) if draw_profile(seed, i).heating_seasonal
                 and np.count_nonzero(np.diff(season(i, 240)[:150].astype(int))) >= 2)
    short, long = season(index, 150), season(index, 240)
    assert np.count_nonzero(np.diff(short.astype(int))) >= 2
    assert (short == long[:len(short)]).all()


def test_quantised_sensors_report_in_their_steps():
    seed = 42
    index = _household_where(seed, lambda p: p.temperature_step == 0.5 and p.humidity_step == 1.0)
    sim = simulate_household(SimConfig(households=index + 1, days=14, seed=seed), index)
    for sensor in sim.profile.sensors:
        step = {"humidity": 1.0}.get(sensor, 0.5 if "temperature" in sensor else None)
        if step is not None:
            v = sim.values[sensor][sim.valid[sensor]]
            assert np.allclose(v / step, np.round(v / step)), sensor
