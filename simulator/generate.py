"""Simulate one household at a time: signals, injected events, faults, dropouts.

`simulate_household` is the whole recipe for one home; `iter_households`
streams a run one household at a time so memory stays bounded.

A home reports only the sensors of its kit (profile.sensors; the others are never valid, and no
event is recorded for them), each at its resolution (profile.temperature_step for every
temperature sensor, profile.humidity_step), rounded after the faults: a sensor reports what it
senses in its own steps. The context sensors draw their noise and losses from streams of their
own (`noise_context`, `lost_context`), so the six core sensors' draws stay as they were.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from simulator.config import CONTEXT_SENSORS, CORE_SENSORS, SENSORS, SimConfig
from simulator.events import draw_activities, draw_injected, fit_to_home
from simulator.profiles import Profile, draw_profile, stream
from simulator.routine import Timeline, build_routine, paint
from simulator.signals import (
    bathroom_temperature,
    fridge_power,
    heating_season,
    humidity,
    pulses,
    temperature,
    weather,
)


@dataclasses.dataclass
class HouseholdSim:
    household_id: str
    profile: Profile
    values: dict[str, np.ndarray]  # sensor -> value per step
    valid: dict[str, np.ndarray]  # sensor -> False where the reading is missing
    events: list[dict]  # ground truth: anomalies, faults and normal events (s/e in steps)


def _of(events, *types):
    return [ev for ev in events if ev["event_type"] in types]


def _pulse(n, evs, level, rise, decay):
    return pulses(n, [e["s"] for e in evs], [e["e"] for e in evs], level, rise, decay)


def simulate_household(config: SimConfig, index: int) -> HouseholdSim:
    """The full simulation of household `index` over config.days."""
    seed, tl = config.seed, Timeline(config)
    n, per_h = tl.n_steps, 60.0 / tl.step_min
    prof = draw_profile(seed, index)
    routine = build_routine(tl, prof, seed, index)
    outdoor_daily, outdoor = weather(tl, prof, seed, index)
    heating_on_all = np.repeat(heating_season(prof, outdoor_daily), tl.spd)
    heating_on = heating_on_all[:n]
    injected = fit_to_home(draw_injected(tl, prof, routine, seed, index), prof, heating_on_all)
    activities = fit_to_home(draw_activities(tl, prof, routine, outdoor_daily, seed, index), prof, heating_on_all)
    z = stream(seed, index, "noise").standard_normal((n, 4))
    u = stream(seed, index, "noise_u").random((n, 2))

    fires = _of(injected, "fire")
    cooking, airing = _of(activities, "cooking"), _of(activities, "airing")
    temp_pulses = (
        _pulse(n, cooking, [e["intensity"] for e in cooking], 0.5 * per_h, 0.75 * per_h)
        - _pulse(n, airing, [e["intensity"] for e in airing], 0.1 * per_h, 0.5 * per_h)
        + _pulse(n, fires, [e["intensity"] for e in fires], 0.15 * per_h, 1.0 * per_h)
    )
    failures = [(e["s"], e["e"], e["intensity"]) for e in _of(injected, "heating_failure")]
    clean_temp, temp = temperature(tl, prof, routine, outdoor, failures, temp_pulses, z[:, 0], heating_on)

    # Showers, leaks and steam drive humidity toward a level: base + shape * (level - base).
    showers = _of(activities, "shower", "late_shower")
    leaks, steam = _of(injected, "humidity_leak"), _of(injected, "humidity_steam")
    toward = [(showers, 0.05 * per_h, prof.shower_decay_min / tl.step_min), (leaks, 0.75 * per_h, 1.5 * per_h),
              (steam, 0.1 * per_h, 0.33 * per_h)]
    level_terms = sum(_pulse(n, evs, [e["intensity"] for e in evs], r, d) for evs, r, d in toward)
    shape_terms = sum(_pulse(n, evs, 1.0, r, d) for evs, r, d in toward)
    drops = (_pulse(n, fires, [e["humidity_drop"] for e in fires], 0.15 * per_h, 1.0 * per_h)
             + _pulse(n, airing, 4.0, 0.1 * per_h, 0.33 * per_h))
    hum = humidity(tl, prof, clean_temp, outdoor_daily, level_terms, shape_terms, -drops, z[:, 1])

    defrosts = [(e["s"], e["e"]) for e in _of(activities, "defrost")]
    fridge_failures = [(e["s"], e["e"], e["intensity"]) for e in _of(injected, "fridge_failure")]
    power = fridge_power(tl, prof, clean_temp, routine, defrosts, fridge_failures, u[:, 0], z[:, 2])

    door, motion = routine.door.copy(), routine.motion.copy()
    for ev in _of(injected, "door_at_night"):
        door[ev["s"] : ev["e"]] = 1.0
        if ev["with_motion"]:
            motion[ev["s"] : ev["e"] + 1] = 1.0
    alarm = paint(n, [e["s"] for e in fires], [e["e"] for e in fires]).astype(float)
    motion[alarm == 1.0] = np.maximum(motion[alarm == 1.0], (u[alarm == 1.0, 1] < 0.5))

    # Context sensors: the outdoor temperature, and the bathroom's warming with each shower.
    zc = stream(seed, index, "noise_context").standard_normal((n, 2))
    warmings = 1.0 + 2.0 * stream(seed, index, "bathroom_warming").random((tl.n_days_drawn, 3))
    bath = bathroom_temperature(tl, prof, clean_temp - temp_pulses, [e["s"] for e in showers], [e["e"] for e in showers],
                                [warmings[e["key"]] for e in showers], zc[:, 1])

    values = {"temperature": temp, "humidity": hum, "fridge_power": power, "motion": motion, "door": door,
              "fire_alarm": alarm, "outdoor_temperature": np.round(outdoor + 0.2 * zc[:, 0], 1),
              "bathroom_temperature": bath}
    valid = _apply_faults(values, injected, z[:, 3], n)
    lost = stream(seed, index, "lost").random((n, len(CORE_SENSORS))) < prof.dropout_rate  # background, unlabelled
    lost_context = stream(seed, index, "lost_context").random((n, len(CONTEXT_SENSORS))) < prof.dropout_rate
    lost = np.hstack([lost, lost_context])
    for k, sensor in enumerate(SENSORS):
        valid[sensor] &= ~lost[:, k]
        if sensor not in prof.sensors:
            valid[sensor][:] = False
    for sensor in ("temperature", "outdoor_temperature", "bathroom_temperature"):
        values[sensor] = _quantise(values[sensor], prof.temperature_step)
    values["humidity"] = _quantise(values["humidity"], prof.humidity_step)
    hh_id = config.household_id(index)
    routine_events = fit_to_home(routine.normal_events, prof, heating_on_all)
    events = [ev for ev in injected + activities + routine_events if ev["s"] < n]
    return HouseholdSim(hh_id, prof, values, valid, events)


def _quantise(v: np.ndarray, step: float) -> np.ndarray:
    """Readings in the sensor's steps (0.1 steps: rounded to one decimal, as before)."""
    return np.round(v, 1) if step == 0.1 else np.round(np.round(v / step) * step, 1)


def _apply_faults(values: dict, injected: list[dict], z: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Corrupt the measured values in place; return the per-sensor validity masks."""
    valid = {sensor: np.ones(n, dtype=bool) for sensor in SENSORS}
    for ev in injected:
        if ev["kind"] != "fault":
            continue
        s, e, sensor = ev["s"], min(ev["e"], n), ev["sensor"]
        if s >= n:
            continue
        if ev["event_type"] == "dropout":
            for name in [sensor] if sensor else SENSORS:
                valid[name][s:e] = False
            continue
        v = values[sensor]
        scale = {"temperature": 0.3, "humidity": 1.5, "fridge_power": 8.0}[sensor]
        if ev["event_type"] == "stuck":
            v[s:e] = v[s]
        elif ev["event_type"] == "spike":
            v[s] = v[s] + ev["intensity"]
        elif ev["event_type"] == "noise_burst":
            v[s:e] += np.round(ev["intensity"] * scale * z[s:e], 1)
        elif ev["event_type"] == "drift":
            v[s:e] += np.round(ev["intensity"] * (np.arange(s, e) - s) / max(ev["e"] - s, 1), 1)
    values["humidity"] = np.clip(values["humidity"], 0.0, 100.0)
    values["fridge_power"] = np.clip(values["fridge_power"], 0.0, None)
    return valid


def iter_households(config: SimConfig, indices=None) -> Iterator[HouseholdSim]:
    """Simulate households one at a time (bounded memory)."""
    for index in indices if indices is not None else range(config.households):
        yield simulate_household(config, index)
