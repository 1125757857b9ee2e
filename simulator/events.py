"""Everyday activities (the hard negatives) and injected anomalies and faults.

Activities are drawn per day; injected events per 7-day block from a stream of
their own, so a block's events never depend on the length of the run. Each
event is a dict with step indices `s` (inclusive) and `e` (exclusive), which
generate.py paints onto the signals and lands as ground truth.

Two-time households (profiles.py) shower in the morning or the evening, chosen each day from a
stream of its own (`variety_shower_days`). Humidity anomalies keep away from every habitual
shower time of the household, by 2.5 h plus twice the shower jitter beyond 0.6 h, so a leak or
steam never looks like a shower by construction. `fit_to_home` drops what a home cannot show:
events of a sensor it lacks, and heating failures while its heating is off for the season (a
failed heating that is switched off changes nothing; a failure running into the switch-off ends
there).
"""
from __future__ import annotations

import numpy as np

from simulator.config import BLOCK_DAYS, CONTINUOUS_SENSORS, CORE_SENSORS, EVENT_SPECS, EVIDENCE_SENSOR
from simulator.profiles import Profile, stream
from simulator.routine import Routine, Timeline


def _event(event_type, kind, cls, sensor, s, e, intensity, description, key, **params) -> dict:
    return {
        "event_type": event_type,
        "kind": kind,
        "anomaly_class": cls,
        "sensor": sensor,
        "s": int(s),
        "e": int(e),
        "intensity": None if intensity is None else round(float(intensity), 3),
        "description": description,
        "key": key,
        **params,
    }


def preferred_shower_hour(prof: Profile) -> float:
    return prof.shower_evening_time if prof.shower_evening else prof.wake_weekday + prof.shower_offset


def shower_hours(prof: Profile) -> tuple[float, ...]:
    """The household's habitual shower times of day (two for a two-time household)."""
    if prof.shower_two_times:
        return (prof.wake_weekday + prof.shower_offset, prof.shower_evening_time)
    return (preferred_shower_hour(prof),)


def shower_avoid_hours(prof: Profile) -> float:
    """How far humidity anomalies keep from a habitual shower time."""
    return 2.5 + 2.0 * max(0.0, prof.shower_jitter - 0.6)


def draw_activities(tl: Timeline, prof: Profile, routine: Routine, outdoor_daily, seed, hh) -> list[dict]:
    """Showers (and the odd late one), cooking, window airing in cold months, fridge defrost."""
    days = tl.n_days_drawn
    base = 24.0 * np.arange(days)
    a = stream(seed, hh, "activities").random((days, 16))
    az = stream(seed, hh, "activities_z").standard_normal((days, 2))
    wake, sleep = routine.wake_h, routine.sleep_h
    out = []

    evening = prof.shower_evening
    if prof.shower_two_times:
        evening = stream(seed, hh, "variety_shower_days").random(days) < prof.shower_evening_share
    first = np.where(evening, base + prof.shower_evening_time, wake + prof.shower_offset)
    first = first + prof.shower_jitter * az[:, 0]
    second = first + 0.35 + 0.8 * a[:, 3]
    late = np.maximum(sleep - 1.0 * a[:, 6], first + 2.0)
    cook = base + 17.5 + 2.0 * a[:, 8] + 0.25 * az[:, 1]
    air = wake + 0.25 + 2.0 * a[:, 12]
    for d in range(days):
        if a[d, 0] < prof.shower_prob:
            out.append(_shower(tl, prof, "shower", first[d], 8 + 12 * a[d, 1], a[d, 2], (d, 0)))
            if a[d, 4] < prof.second_shower_prob:
                out.append(_shower(tl, prof, "shower", second[d], 8 + 12 * a[d, 5], a[d, 2], (d, 1)))
        if a[d, 7] < prof.late_shower_prob:
            out.append(_shower(tl, prof, "late_shower", late[d], 10 + 10 * a[d, 9], a[d, 2], (d, 2)))
        if a[d, 10] < prof.cooking_prob:
            amp = 0.8 + 1.7 * a[d, 11]
            s = tl.idx(cook[d])
            out.append(_event("cooking", "normal", 0, "temperature", s, s + tl.steps(30 + 45 * a[d, 13]), amp,
                              f"cooking warms the living room by about {amp:.1f} degC", (d, 3)))
        if outdoor_daily[d] < 8.0 and a[d, 14] < prof.airing_prob:
            depth = float(np.clip(0.15 * (prof.setpoint_day - outdoor_daily[d]) * (0.6 + 0.8 * a[d, 15]), 1.5, 5.0))
            s = tl.idx(air[d])
            out.append(_event("airing", "normal", 0, "temperature", s, s + tl.steps(10 + 10 * a[d, 13]), depth,
                              f"window airing on a cold day drops the room about {depth:.1f} degC", (d, 4)))
    out.extend(_defrosts(tl, prof, seed, hh))
    return out


def _shower(tl, prof, kind, start_h, minutes, u, key) -> dict:
    s = tl.idx(start_h)
    peak = prof.shower_peak - 4.0 * u
    text = "a shower" if kind == "shower" else "a late-night shower, outside the usual shower time"
    return _event(kind, "normal", 0, "humidity", s, s + tl.steps(minutes), peak,
                  f"{text} lifts bathroom humidity to about {peak:.0f} %RH", key)


def _defrosts(tl: Timeline, prof: Profile, seed: int, hh: int) -> list[dict]:
    every = prof.fridge_defrost_every_h
    count = int(np.ceil(tl.n_days_drawn * 24 / every)) + 1
    jitter = stream(seed, hh, "defrost").random(count)
    starts = tl.idx(every * (np.arange(count) + 0.5) + 0.5 * (jitter - 0.5))
    length = tl.steps(prof.fridge_defrost_min)
    return [
        _event("defrost", "normal", 0, "fridge_power", s, s + length, prof.fridge_defrost_min,
               f"fridge defrost: compressor off for {prof.fridge_defrost_min:.0f} min, then a long run", (k, 0))
        for k, s in enumerate(starts)
    ]


def draw_injected(tl: Timeline, prof: Profile, routine: Routine, seed: int, hh: int) -> list[dict]:
    """Anomalies (classes 1-5) and sensor faults, a Poisson number per type per block."""
    events = []
    block_h = 24.0 * BLOCK_DAYS
    shower_hour = (shower_hours(prof), shower_avoid_hours(prof))
    for block in range(tl.n_blocks):
        r = stream(seed, hh, "injected", block)
        for event_type, spec in EVENT_SPECS.items():
            n = r.poisson(spec.per_week * BLOCK_DAYS / 7.0)
            for j, u in enumerate(r.random((n, 6))):
                start_h = block * block_h + u[0] * block_h
                if spec.log_duration:
                    minutes = spec.min_minutes * (spec.max_minutes / spec.min_minutes) ** u[1]
                else:
                    minutes = spec.min_minutes + (spec.max_minutes - spec.min_minutes) * u[1]
                ev = _make(event_type, spec, tl, prof, routine, start_h, minutes, u, shower_hour, (block, j))
                if ev is not None:
                    events.append(ev)
    return events


def _make(event_type, spec, tl, prof, routine, start_h, minutes, u, shower_hour, key):
    length = 1 if event_type == "spike" else int(tl.steps(minutes))
    hours = length * tl.step_min / 60.0
    if event_type in ("humidity_leak", "humidity_steam"):
        # Keep humidity anomalies away from the household's shower pattern (6 h later, at
        # most three times; a home whose shower times leave no room gets none).
        habitual, avoid = shower_hour
        for _ in range(4):
            gaps = [abs((start_h % 24.0) - h % 24.0) for h in habitual]
            if min(min(g, 24.0 - g) for g in gaps) >= avoid:
                break
            start_h += 6.0
        else:
            return None
    if event_type == "door_at_night":
        day = int(start_h // 24.0)
        lo, hi = routine.sleep_h[day] + 0.75, routine.wake_h[day + 1] - 0.75
        if hi <= lo:
            return None
        start_h = lo + (hi - lo) * u[0]
    s = int(tl.idx(start_h))
    e = s + length
    cls = spec.anomaly_class
    if event_type == "heating_failure":
        drop = 5.0 + 5.0 * u[2]
        text = f"heating failure: the room cools toward {drop:.1f} degC below its set-point for {hours:.1f} h"
        return _event(event_type, "anomaly", cls, "temperature", s, e, drop, text, key)
    if event_type in ("humidity_leak", "humidity_steam"):
        level = 80.0 + 15.0 * u[2] if event_type == "humidity_leak" else 92.0 + 8.0 * u[2]
        what = "a water leak keeps" if event_type == "humidity_leak" else "steam (kettle, cooking, dryer) drives"
        text = f"{what} bathroom humidity near {level:.0f} %RH for {hours:.1f} h, outside shower times"
        return _event(event_type, "anomaly", cls, "humidity", s, e, level, text, key)
    if event_type == "fridge_failure":
        cut = u[2] < 0.3
        level = 0.0 if cut else 0.3 + 1.7 * u[3]
        what = "power cut: the fridge draws nothing" if cut else f"fridge failure: power stays near {level:.1f} W"
        return _event(event_type, "anomaly", cls, "fridge_power", s, e, level, f"{what} for {hours:.1f} h", key,
                      cause="power_cut" if cut else "compressor_failure")
    if event_type == "door_at_night":
        text = f"front door opened at night while the household sleeps ({length * tl.step_min} min)"
        return _event(event_type, "anomaly", cls, "door", s, e, None, text, key, with_motion=bool(u[3] < 0.7))
    if event_type == "fire":
        rise, dry = 8.0 + 17.0 * u[2], 15.0 + 20.0 * u[3]
        text = f"fire: alarm on for {hours * 60:.0f} min, room +{rise:.0f} degC, humidity -{dry:.0f} %RH"
        return _event(event_type, "anomaly", cls, "fire_alarm", s, e, rise, text, key, humidity_drop=dry)
    return _make_fault(event_type, tl, s, e, hours, u, key)


def _make_fault(event_type, tl, s, e, hours, u, key):
    sensor = CONTINUOUS_SENSORS[int(u[4] * len(CONTINUOUS_SENSORS))]
    if event_type == "stuck":
        text = f"{sensor} sensor stuck at one value for {hours:.1f} h"
        return _event(event_type, "fault", 0, sensor, s, e, None, text, key)
    if event_type == "spike":
        size = {"temperature": 10 + 15 * u[2], "humidity": 40 + 40 * u[2], "fridge_power": 800 + 1200 * u[2]}[sensor]
        sign = 1.0 if (sensor == "fridge_power" or u[3] < 0.6) else -1.0
        text = f"{sensor} sensor spike of {sign * size:+.0f} for one reading"
        return _event(event_type, "fault", 0, sensor, s, e, sign * size, text, key)
    if event_type == "noise_burst":
        factor = 5.0 + 10.0 * u[2]
        text = f"{sensor} sensor noise x{factor:.0f} for {hours:.1f} h"
        return _event(event_type, "fault", 0, sensor, s, e, factor, text, key)
    if event_type == "dropout":
        hub = u[5] < 0.4
        sensor = None if hub else CORE_SENSORS[int(u[4] * len(CORE_SENSORS))]
        text = f"{'hub offline: no sensor' if hub else sensor + ' sensor'} reports for {hours:.1f} h"
        return _event(event_type, "fault", 0, sensor, s, e, None, text, key)
    sensor = "temperature" if u[4] < 0.5 else "humidity"  # drift
    size = (2.0 + 3.0 * u[2] if sensor == "temperature" else 8.0 + 12.0 * u[2]) * (1 if u[3] < 0.5 else -1)
    text = f"{sensor} sensor drifts by {size:+.1f} over {hours / 24:.1f} days, then is recalibrated"
    return _event(event_type, "fault", 0, sensor, s, e, size, text, key)


def fit_to_home(events: list[dict], prof: Profile, heating_on: np.ndarray) -> list[dict]:
    """The events this home can show: none on a sensor it lacks (anomalies by their evidence
    sensor, faults and normal events by their own), no heating failure while the heating is
    off for the season (heating_on: per step, reaching past every event's end so that a prefix
    of the run records the same events), and one running into the switch-off ends there."""
    present, out = set(prof.sensors), []
    n = len(heating_on)
    for ev in events:
        sensor = EVIDENCE_SENSOR.get(ev["event_type"], ev["sensor"])
        if sensor is not None and sensor not in present:
            continue
        if ev["event_type"] == "heating_failure" and ev["s"] < n:
            if not heating_on[ev["s"]]:
                continue
            off = np.flatnonzero(~heating_on[ev["s"] : min(ev["e"], n)])
            if off.size:
                ev = {**ev, "e": ev["s"] + int(off[0]),
                      "description": ev["description"] + ", until the heating is switched off for the season"}
        out.append(ev)
    return out
