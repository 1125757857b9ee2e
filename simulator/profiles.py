"""Random streams and the per-household profile.

Every random quantity comes from a named stream keyed by (seed, household,
name[, block]). Each stream is drawn from exactly once, with a size that grows
with time (rows = days or steps), so simulating D days and then D+N days gives
the same first D days: that is what makes `simulate --append` exact.

Homes vary as real ones do (issue 16). Each variety comes from a stream of its own
(`variety_<name>`), so the draws of the habits above stay as they were:

- showers (`variety_showers`): 25 % of households shower at two habitual times, morning
  (after waking) and evening, choosing one each day (the evening with probability 0.3-0.7);
  20 % shower with a large jitter (std 0.75-1.5 h instead of 0.15-0.6 h).
- bathroom (`variety_bathroom`): 30 % ventilate slowly: humidity decays with a time constant
  of 40-120 min after a shower instead of 15-40 min. Measured (60 homes x 240 days, seed 42),
  a shower keeps a slow bathroom at 75 %RH or more for a median 30 min in winter (10-90 %:
  15-50 min) and 45-50 min in summer (up to about 95 min), against 15 and 25 min for the
  others. The real house's showers last longer (40-200 min): its bathroom sits at a higher
  base humidity than the simulated winter's 30-45 %RH.
- heating (`variety_heating`): 40 % switch the heating off for the season once the outdoor
  daily mean has stayed at or above 12-14 degC for 3-5 days in a row (days on which the room
  running free would have stayed at or above the household's comfort floor), and on again once
  it has stayed below that minus 3 degC for as many days, or the morning after a day the room
  running free would fall below the comfort floor (15.5-17 degC as a daily mean; the real
  house's living room sat at 18-19 degC with its heating off in spring); rooms then drift to
  their free-running temperature (signals.heating_season). No heating failure is injected
  while it is off.
- quantised sensors (`variety_sensors`): 20 % report temperatures (every temperature sensor of
  the home) in 0.5 degC steps, 25 % report humidity in 1 %RH steps; the others in 0.1 steps.
- sensor kits (`variety_sensors`): 10 % are "climate" homes with only temperature, humidity,
  outdoor_temperature and bathroom_temperature (like the real house). Of the others, 10 %
  have no fridge meter, 10 % no door contact and motion sensor (a home without an alarm
  system; the door-at-night rule learns the sleep hours from motion, so the two go together),
  10 % no fire alarm, and 20 % each have an outdoor_temperature and a bathroom_temperature
  sensor: 28 % of all homes have each context sensor, and a home has on average about 5.8
  sensors instead of 6 (fewer readings than before, not more). No anomaly, fault or normal
  event is recorded for a sensor the home lacks (events.fit_to_home).
- bathroom temperature: 0.5-2 degC below the living room's, warming by 1-3 degC with each
  shower (time constant 5 min) and cooling back over 30-60 min (a time constant of its own).
"""
from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from simulator.config import SENSORS


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
    # --- variety (issue 16), each from its own stream: see the module docstring
    shower_two_times: bool  # morning or evening shower, chosen each day
    shower_evening_share: float  # chance a two-time household's shower is in the evening
    heating_seasonal: bool  # heating switched off for the season on mild days
    heating_off_above: float  # outdoor daily mean, degC, that switches it off...
    heating_off_days: int  # ...held this many days in a row (and below minus 3 degC to switch on)
    comfort_floor: float  # degC, daily mean: below it running free, the heating goes back on
    temperature_step: float  # reported resolution of the temperature sensors, degC
    humidity_step: float  # reported resolution of the humidity sensor, %RH
    sensors: tuple[str, ...]  # the sensors this home has
    bathroom_offset: float  # degC the bathroom sits below the living room
    bathroom_cool_min: float  # time constant of the bathroom cooling after a shower

    def to_json_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


SHOWER_TWO_TIMES_SHARE = 0.25
SHOWER_LARGE_JITTER_SHARE = 0.20
SLOW_BATHROOM_SHARE = 0.30
HEATING_SEASONAL_SHARE = 0.40
TEMPERATURE_HALF_DEGREE_SHARE = 0.20
HUMIDITY_WHOLE_PERCENT_SHARE = 0.25
CLIMATE_KIT_SHARE = 0.10  # temperature, humidity, outdoor and bathroom temperature only
NO_FRIDGE_SHARE = NO_DOOR_MOTION_SHARE = NO_FIRE_ALARM_SHARE = 0.10  # of the other homes, each
CONTEXT_SENSOR_SHARE = 0.20  # of the other homes, each of outdoor and bathroom temperature
CLIMATE_KIT = ("temperature", "humidity", "outdoor_temperature", "bathroom_temperature")


def _sensor_kit(u: np.ndarray) -> tuple[str, ...]:
    if u[0] < CLIMATE_KIT_SHARE:
        return tuple(s for s in SENSORS if s in CLIMATE_KIT)
    absent = set()
    if u[1] < NO_FRIDGE_SHARE:
        absent.add("fridge_power")
    if u[2] < NO_DOOR_MOTION_SHARE:
        absent |= {"door", "motion"}
    if u[3] < NO_FIRE_ALARM_SHARE:
        absent.add("fire_alarm")
    if u[4] >= CONTEXT_SENSOR_SHARE:
        absent.add("outdoor_temperature")
    if u[5] >= CONTEXT_SENSOR_SHARE:
        absent.add("bathroom_temperature")
    return tuple(s for s in SENSORS if s not in absent)


def draw_profile(seed: int, household: int) -> Profile:
    u = stream(seed, household, "profile").random(64)
    z = stream(seed, household, "profile_z").standard_normal(16)

    def lerp(i: int, lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * u[i])

    shw = stream(seed, household, "variety_showers").random(5)
    bath = stream(seed, household, "variety_bathroom").random(4)
    heat = stream(seed, household, "variety_heating").random(4)
    kit = stream(seed, household, "variety_sensors").random(8)
    shower_jitter = lerp(13, 0.15, 0.6)
    if shw[2] < SHOWER_LARGE_JITTER_SHARE:
        shower_jitter = float(0.75 + 0.75 * shw[3])
    shower_decay = lerp(21, 15.0, 40.0)
    if bath[0] < SLOW_BATHROOM_SHARE:
        shower_decay = float(40.0 + 80.0 * bath[1])

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
        shower_jitter=shower_jitter,
        shower_prob=lerp(14, 0.7, 1.0),
        second_shower_prob=lerp(15, 0.0, 0.5),
        late_shower_prob=lerp(16, 0.01, 0.05),
        humidity_base=lerp(17, 40.0, 55.0),
        humidity_season_amp=lerp(18, 5.0, 12.0),
        humidity_noise=lerp(19, 0.5, 1.5),
        shower_peak=lerp(20, 85.0, 97.0),
        shower_decay_min=shower_decay,
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
        shower_two_times=bool(shw[0] < SHOWER_TWO_TIMES_SHARE),
        shower_evening_share=float(0.3 + 0.4 * shw[1]),
        heating_seasonal=bool(heat[0] < HEATING_SEASONAL_SHARE),
        heating_off_above=float(12.0 + 2.0 * heat[1]),
        heating_off_days=int(3 + int(3 * heat[2])),
        comfort_floor=float(15.5 + 1.5 * heat[3]),
        temperature_step=0.5 if kit[6] < TEMPERATURE_HALF_DEGREE_SHARE else 0.1,
        humidity_step=1.0 if kit[7] < HUMIDITY_WHOLE_PERCENT_SHARE else 0.1,
        sensors=_sensor_kit(kit),
        bathroom_offset=float(0.5 + 1.5 * bath[2]),
        bathroom_cool_min=float(30.0 + 30.0 * bath[3]),
    )
