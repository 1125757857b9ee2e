"""Physical signals: weather, room temperature, bathroom humidity, fridge power.

Everything is causal (a step depends only on earlier steps) and vectorized over
the whole timeline: first-order lags use scipy's IIR filter, events are painted
as intervals or decaying pulses.

Heating seasons (profiles.py: a share of households): the heating is off on a day once the
outdoor daily mean has stayed at or above heating_off_above for heating_off_days days in a
row, each of them a day the room running free would have stayed at or above the household's
comfort floor, and on again once it has stayed below heating_off_above - 3 degC as long, or the morning
after a day when the room running free would sit below the household's comfort floor (15.5-17
degC as a daily mean: nobody keeps the heating off in a 10 degC living room); while off the
room runs free (the outdoor temperature lagged through the house, plus internal and solar
gains), with no thermostat cycles. The bathroom temperature follows the house, below the
living room, and warms with each shower.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from simulator.profiles import Profile, stream
from simulator.routine import Routine, Timeline, paint

N_WEATHER_REGIONS = 4  # households in one region share the weather
REGION_KEY = 10**9  # stream keys for regions sit above any household index


def lag(x: np.ndarray, tau_steps: float) -> np.ndarray:
    """First-order lag (exponential smoothing) starting in steady state."""
    if len(x) == 0:
        return x
    alpha = 1.0 - np.exp(-1.0 / max(tau_steps, 1e-6))
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * x[0]])
    return y


def pulses(n: int, starts, ends, levels, rise_steps, decay_steps) -> np.ndarray:
    """Pulse train: inside [start, end) a level approached with time
    constant rise_steps; after the end, an exponential decay. Where pulses
    overlap, the latest one started wins (showers do not stack)."""
    out = np.zeros(n)
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size == 0:
        return out
    order = np.argsort(starts, kind="stable")
    s = starts[order]
    e = np.maximum(np.asarray(ends, dtype=np.int64)[order], s + 1)
    lv = np.broadcast_to(np.asarray(levels, dtype=float), starts.shape)[order]
    rise = np.broadcast_to(np.asarray(rise_steps, dtype=float), starts.shape)[order]
    decay = np.broadcast_to(np.asarray(decay_steps, dtype=float), starts.shape)[order]
    t = np.arange(n)
    k = np.searchsorted(s, t, side="right") - 1
    live = k >= 0
    k = np.maximum(k, 0)
    sk, ek, lk, rk, dk = s[k], e[k], lv[k], np.maximum(rise[k], 1e-6), np.maximum(decay[k], 1e-6)
    inside = lk * (1.0 - np.exp(-np.maximum(t - sk + 1, 0) / rk))
    peak = lk * (1.0 - np.exp(-(ek - sk) / rk))
    after = peak * np.exp(-np.maximum(t - ek + 1, 0) / dk)
    out = np.where(t < ek, inside, after)
    out[~live] = 0.0
    return out


def triangle(phase: np.ndarray) -> np.ndarray:
    """A triangle wave in [-1, 1] with period 1."""
    return 4.0 * np.abs(phase - np.floor(phase + 0.5)) - 1.0


WEATHER_EXTRA_DAYS = 8  # daily weather beyond the drawn days: the heating season past any event's end


def weather(tl: Timeline, prof: Profile, seed: int, hh: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily mean outdoor temperature (drawn days and WEATHER_EXTRA_DAYS more; a longer run
    draws the same first days) and outdoor temperature per step."""
    n_days = tl.n_days_drawn + WEATHER_EXTRA_DAYS
    z = stream(seed, REGION_KEY + hh % N_WEATHER_REGIONS, "weather").standard_normal(n_days)
    phi = 0.8  # day-to-day persistence of weather spells
    spell = lfilter([2.5 * np.sqrt(1 - phi**2)], [1.0, -phi], z)
    day_mid = np.arange(n_days) + 0.5
    coldest = 2 * np.pi * 20 / 365.25  # around 20 January
    daily = prof.climate_mean - prof.climate_amp * np.cos(tl.year_angle(day_mid) - coldest) + spell
    diurnal = -4.0 * np.cos(2 * np.pi * (tl.hour - 4.0) / 24.0)  # coldest near 04:00
    return daily, np.interp(tl.t_days, day_mid, daily) + diurnal


SOLAR_PEAK_C, SOLAR_RISE_H, SOLAR_HOURS = 1.0, 8.0, 10.0  # a free-running room's solar gain: a half sine 08-18 h
SOLAR_DAILY_MEAN_C = SOLAR_PEAK_C * SOLAR_HOURS * (2 / np.pi) / 24  # its daily mean


def heating_season(prof: Profile, outdoor_daily: np.ndarray) -> np.ndarray:
    """Per day: whether the heating is on. Always, unless the household switches it off for the
    season; then decided each morning from the previous days' outdoor daily means. Nobody sits
    in a cold room to keep to a rule: the heating goes off only while the room would stay at or
    above the household's comfort floor running free (outdoor plus internal and solar gains),
    and back on the morning after a day it would not."""
    on = np.ones(len(outdoor_daily), dtype=bool)
    if not prof.heating_seasonal:
        return on
    k, state = prof.heating_off_days, True
    comfortable = outdoor_daily + prof.internal_gains + SOLAR_DAILY_MEAN_C >= prof.comfort_floor
    mild = (outdoor_daily >= prof.heating_off_above) & comfortable
    cold = outdoor_daily < prof.heating_off_above - 3.0
    for d in range(k, len(outdoor_daily)):
        if state and mild[d - k : d].all():
            state = False
        elif not state and (cold[d - k : d].all() or not comfortable[d - 1]):
            state = True
        on[d] = state
    return on


def bathroom_temperature(tl, prof, house_temp, shower_starts, shower_ends, warmings, z) -> np.ndarray:
    """Bathroom temperature as measured before faults: the house's temperature less an offset,
    warming toward +warming degC with each shower (time constant 5 min), cooling back with
    the household's bathroom_cool_min."""
    per_min = 1.0 / tl.step_min
    warm = pulses(tl.n_steps, shower_starts, shower_ends, warmings, 5.0 * per_min, prof.bathroom_cool_min * per_min)
    return np.round(house_temp - prof.bathroom_offset + warm + 0.05 * z, 1)


def sensor_drift(tl: Timeline, per_year: float, wave: float, wave_days: float, phase: float) -> np.ndarray:
    """Slow unlabelled sensor ageing: linear plus a non-linear wander."""
    return per_year * tl.t_days / 365.25 + wave * np.sin(2 * np.pi * tl.t_days / wave_days + phase)


def temperature(tl, prof, routine: Routine, outdoor, failures, pulse_terms, z, heating_on=None) -> tuple[np.ndarray, np.ndarray]:
    """Living-room temperature (clean, then as measured before faults).

    failures: list of (start, end, drop) heating failures; pulse_terms: extra
    additive signals (cooking, airing, fire) already on the step grid; heating_on:
    per step, False while the heating is off for the season (the room runs free).
    """
    steps_per_h = 60.0 / tl.step_min
    free = lag(outdoor, 6 * steps_per_h) + prof.internal_gains + SOLAR_PEAK_C * np.clip(
        np.sin(np.pi * (tl.hour - SOLAR_RISE_H) / SOLAR_HOURS), 0, None)
    setpoint = prof.setpoint_day - prof.night_setback * routine.asleep - prof.away_setback * ~routine.home
    if heating_on is not None:
        setpoint = np.where(heating_on, setpoint, -np.inf)
    target = np.maximum(setpoint, free)
    broken = np.zeros(tl.n_steps, dtype=bool)
    for s, e, drop in failures:
        target[s:e] = prof.setpoint_day - drop
        broken[s:e] = True
    heating = (setpoint > free) & ~broken
    cycles = prof.thermostat_amp * triangle(tl.t * tl.step_min / prof.thermostat_period_min) * heating
    clean = lag(target, prof.house_tau_h * steps_per_h) + cycles + pulse_terms
    drift = sensor_drift(tl, prof.temp_drift_per_year, prof.drift_wave_temp, prof.drift_wave_days, 0.0)
    measured = np.round(clean + drift + prof.temp_noise * z, 1)
    return clean, measured


def humidity(tl, prof, clean_temp, outdoor_daily, level_terms, shape_terms, additive, z) -> np.ndarray:
    """Bathroom humidity as measured before faults.

    level_terms / shape_terms: pulses of target levels and of unit height with the
    same timing, so that base + level - shape * base approaches each target level.
    """
    peak_summer = 2 * np.pi * 200 / 365.25  # mid-July
    day_mid = np.arange(len(outdoor_daily)) + 0.5
    season = prof.humidity_season_amp * np.cos(tl.year_angle(tl.t_days) - peak_summer)
    weather_wobble = 0.3 * np.interp(tl.t_days, day_mid, outdoor_daily - prof.climate_mean)
    # Relative humidity falls when the room warms and rises when it cools (a heating
    # failure shows here too); only the departure from the day's level matters.
    warming = clean_temp - lag(clean_temp, 24 * 60 / tl.step_min)
    base = prof.humidity_base + season - 1.5 * warming + weather_wobble
    drift = sensor_drift(tl, prof.humidity_drift_per_year, prof.drift_wave_humidity, prof.drift_wave_days, 1.3)
    clean = base + level_terms - shape_terms * base + additive
    return np.round(np.clip(clean + drift + prof.humidity_noise * z, 5.0, 100.0), 1)


def fridge_power(tl, prof, clean_temp, routine: Routine, defrosts, failures, u, z) -> np.ndarray:
    """Fridge power draw: compressor cycles, defrost, door bumps and failures.

    defrosts: (start, end) steps of passive defrost, compressor off then a long
    recovery run; failures: (start, end, level_w) anomalies.
    """
    n = tl.n_steps
    duty = np.clip(prof.fridge_duty + 0.012 * (clean_temp - 20.0), 0.15, 0.75)
    period_steps = prof.fridge_cycle_min / tl.step_min
    phase = np.cumsum((1.0 + 0.08 * z) / period_steps)
    on = (phase - np.floor(phase)) < duty
    if defrosts:
        s, e = np.asarray(defrosts, dtype=np.int64).T
        off = paint(n, s, e)
        on = (on & ~off) | paint(n, e, 2 * e - s)
    for s, e, _ in failures:
        pull_down = max(1, (e - s) // 2)
        on[e : e + min(pull_down, int(3 * 60 / tl.step_min))] = True
    power = np.where(on, prof.fridge_on_w * (1 + 0.03 * z), prof.fridge_idle_w + 0.3 * np.abs(z))
    door_open = (u < prof.fridge_door_prob) & routine.awake_home
    power = power + door_open * (15.0 + 25.0 * u / max(prof.fridge_door_prob, 1e-9))
    for s, e, level in failures:
        power[s:e] = level + (0.1 * np.abs(z[s:e]) if level > 0 else 0.0)
    return np.round(np.clip(power, 0.0, None), 1)
