"""Random streams and the per-household profile.

Every random quantity comes from a named stream keyed by (seed, household,
name[, block]). Each stream is drawn from exactly once, with a size that grows
with time (rows = days or steps), so simulating D days and then D+N days gives
the same first D days: that is what makes `simulate --append` exact.
"""
from __future__ import annotations

import dataclasses
import zlib

import numpy as np


def stream(seed: int, household: int, name: str, *extra: int) -> np.random.Generator:
    """An independent generator for one named quantity of one household."""
    key = [seed, household, zlib.crc32(name.encode()), *extra]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


@dataclasses.dataclass(frozen=True)
class Profile:
    """One household's habits, equipment and sensors. Hours are local clock hours."""

    setpoint_day: float  # degC while awake at home
    night_setback: float  # degC lower while asleep
    away_setback: float  # degC lower while away (0 = no setback)
    wake_weekday: float
    wake_weekend: float
    sleep_weekday: float  # may exceed 24 (after midnight)
    sleep_weekend: float
    routine_jitter: float  # std of daily wake/sleep times, hours
    works_from_home: bool
    leave_after_wake: float  # hours between waking and leaving on workdays
    return_weekday: float
    has_pet: bool
    shower_evening: bool  # False: showers after waking
    shower_offset: float  # hours after waking (morning showerers)
    shower_evening_time: float
    shower_jitter: float  # std of shower time, hours
    shower_prob: float  # chance of a shower on a given day
    second_shower_prob: float  # a second occupant showering soon after
    late_shower_prob: float  # the odd late-night shower (a hard negative)
    humidity_base: float  # %RH
    humidity_season_amp: float
    humidity_noise: float
    shower_peak: float  # %RH reached in a shower
    shower_decay_min: float
    temp_noise: float
    thermostat_amp: float  # half-height of heating cycles, degC
    thermostat_period_min: float
    house_tau_h: float  # thermal time constant of the house
    internal_gains: float  # degC a free-running house sits above outdoors
    climate_mean: float  # yearly mean outdoor degC
    climate_amp: float  # summer-winter half-swing, degC
    airing_prob: float  # chance of airing on a cold day
    cooking_prob: float
    fridge_on_w: float
    fridge_idle_w: float
    fridge_cycle_min: float
    fridge_duty: float
    fridge_defrost_every_h: float
    fridge_defrost_min: float
    fridge_door_prob: float  # per awake step at home
    fridge_noise_w: float
    temp_drift_per_year: float  # slow, unlabelled sensor ageing
    humidity_drift_per_year: float
    drift_wave_temp: float
    drift_wave_humidity: float
    drift_wave_days: float
    dropout_rate: float  # chance a single reading is lost

    def to_json_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


def draw_profile(seed: int, household: int) -> Profile:
    u = stream(seed, household, "profile").random(64)
    z = stream(seed, household, "profile_z").standard_normal(16)

    def lerp(i: int, lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * u[i])

    wake_wd = float(np.clip(6.75 + 0.6 * z[0], 5.0, 9.0))
    sleep_wd = float(np.clip(23.0 + 0.6 * z[1], 21.5, 24.75))
    return Profile(
        setpoint_day=lerp(0, 19.5, 22.5),
        night_setback=lerp(1, 0.5, 3.0),
        away_setback=0.0 if u[2] < 0.5 else lerp(3, 1.0, 3.0),
        wake_weekday=wake_wd,
        wake_weekend=wake_wd + lerp(4, 0.5, 2.5),
        sleep_weekday=sleep_wd,
        sleep_weekend=min(sleep_wd + lerp(5, 0.25, 1.25), 25.5),
        routine_jitter=lerp(6, 0.2, 0.5),
        works_from_home=bool(u[7] < 0.25),
        leave_after_wake=lerp(8, 0.75, 1.75),
        return_weekday=float(np.clip(17.75 + 0.75 * z[2], 15.5, 20.0)),
        has_pet=bool(u[9] < 0.3),
        shower_evening=bool(u[10] < 0.3),
        shower_offset=lerp(11, 0.2, 0.8),
        shower_evening_time=lerp(12, 19.5, 22.0),
        shower_jitter=lerp(13, 0.15, 0.6),
        shower_prob=lerp(14, 0.7, 1.0),
        second_shower_prob=lerp(15, 0.0, 0.5),
        late_shower_prob=lerp(16, 0.01, 0.05),
        humidity_base=lerp(17, 40.0, 55.0),
        humidity_season_amp=lerp(18, 5.0, 12.0),
        humidity_noise=lerp(19, 0.5, 1.5),
        shower_peak=lerp(20, 85.0, 97.0),
        shower_decay_min=lerp(21, 15.0, 40.0),
        temp_noise=lerp(22, 0.04, 0.15),
        thermostat_amp=lerp(23, 0.1, 0.35),
        thermostat_period_min=lerp(24, 25.0, 60.0),
        house_tau_h=lerp(25, 1.0, 2.5),
        internal_gains=lerp(26, 3.0, 6.0),
        climate_mean=lerp(27, 6.0, 12.0),
        climate_amp=lerp(28, 7.0, 11.0),
        airing_prob=lerp(29, 0.05, 0.6),
        cooking_prob=lerp(30, 0.4, 0.9),
        fridge_on_w=lerp(31, 70.0, 140.0),
        fridge_idle_w=lerp(32, 1.0, 4.0),
        fridge_cycle_min=lerp(33, 30.0, 60.0),
        fridge_duty=lerp(34, 0.3, 0.45),
        fridge_defrost_every_h=lerp(35, 8.0, 16.0),
        fridge_defrost_min=lerp(36, 20.0, 45.0),
        fridge_door_prob=lerp(37, 0.01, 0.04),
        fridge_noise_w=lerp(38, 1.0, 3.0),
        temp_drift_per_year=float(1.0 * z[3]),
        humidity_drift_per_year=float(4.0 * z[4]),
        drift_wave_temp=lerp(39, 0.0, 0.3),
        drift_wave_humidity=lerp(40, 0.0, 1.5),
        drift_wave_days=lerp(41, 30.0, 120.0),
        dropout_rate=lerp(42, 0.0005, 0.003),
    )
