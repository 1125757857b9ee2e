"""The physical evidence a classified heating failure needs (models_ml.metrics.heating_evidence),
as the evaluation applies it; marts.fct_classified_anomalies applies the same in SQL (its dbt
unit test a_classifier_heating_failure_needs_a_fall)."""
from __future__ import annotations

import duckdb
import numpy as np

from models_ml import data
from models_ml.metrics import door_evidence, drop_blips, fridge_evidence, heating_evidence

STEP = np.timedelta64(5, "m")


def _steps(n: int) -> np.ndarray:
    return np.datetime64("2025-05-01T00:00", "us") + np.arange(n) * STEP


def test_a_failure_keeps_its_fall_for_as_long_as_the_room_stays_cold():
    """Heating fails at step 24: the room falls 21 -> 15 degC within an hour and stays there
    for 12 hours. The classifier names two runs: one as it falls, one hours later when the room
    has long been flat (no fall in its last two hours). Both are the failure: the second
    keeps the fall that began it, since the room never came back within 2 degC of its baseline.
    A third run, after the room is back at its level and cools slowly again, has no evidence."""
    n = 24 + 12 * 12 + 48 + 72
    expected = np.full(n, 21.0)
    temperature = np.full(n, 21.0)
    temperature[24:36] = np.linspace(21.0, 15.0, 12)                 # the fall: 6 degC in an hour
    temperature[36:168] = 15.0                                       # cold and flat for 11 hours
    temperature[168:216] = 21.0                                      # repaired
    temperature[216:] = np.linspace(21.0, 17.5, n - 216)             # slow cooling: 3.5 degC in 6 hours
    evidence = heating_evidence(_steps(n), temperature, expected, fall_c=2.0, fall_minutes=120, below_c=2.0, day_drop_c=4.0)
    pred = np.zeros(n, dtype=np.int64)
    pred[30:40] = 1                      # as it falls
    pred[150:160] = 1                    # hours later, flat and cold
    pred[270:280] = 1                    # the slow cooling after the repair
    out = drop_blips(pred, bridge_steps=1, min_steps={}, evidence={1: evidence})
    assert (out[30:40] == 1).all() and (out[150:160] == 1).all()
    assert (out[270:280] == 0).all()
    assert not evidence[216:].any()


def test_a_house_floating_with_the_weather_shows_no_failure():
    """Heating off for the season: each night the room cools slowly (0.6 degC an hour) to 5 degC
    under its heated baseline, and each afternoon warms back near it. The classifier's cold
    mornings are not raised; the same mornings with the first fall fast (2.5 degC in 90 minutes)
    are."""
    days = 3
    hours = np.arange(days * 288) / 12.0
    expected = np.full(len(hours), 21.0)
    temperature = 18.5 + 2.5 * np.cos(2 * np.pi * (hours - 18.0) / 24.0)   # 21 at 18:00, 16 at 06:00
    steps = _steps(len(hours))
    evidence = heating_evidence(steps, temperature, expected, 2.0, 120, 2.0, 4.0)
    assert np.abs(np.diff(temperature)).max() * 24 < 2.0                 # under 2 degC in 2 hours
    assert not evidence.any()
    pred = np.zeros(len(hours), dtype=np.int64)
    mornings = [slice(d * 288 + 60, d * 288 + 96) for d in range(days)]  # 05:00-08:00
    for m in mornings:
        pred[m] = 1
    assert not drop_blips(pred, 1, {}, {1: evidence}).any()
    fast = temperature.copy()
    fast[288 + 40:288 + 58] -= np.linspace(0.0, 2.5, 18)                 # day 2: a fast fall from 03:20
    fast[288 + 58:288 + 120] -= 2.5
    out = drop_blips(pred, 1, {}, {1: heating_evidence(steps, fast, expected, 2.0, 120, 2.0, 4.0)})
    assert (out[mornings[1]] == 1).all() and not out[mornings[0]].any() and not out[mornings[2]].any()


def test_a_slow_house_s_failure_shows_as_a_room_far_colder_than_the_day_before():
    """A well-insulated house (time constant 7 h, as bench/realhouse.py injects into the real
    house): its heating fails at 06:00 on day 2 and the room drifts 20 -> 14 degC, never 2 degC
    in 2 hours. From when it is 4 degC colder than at the same time on day 1 it shows the
    evidence, and keeps it while cold; day 1 (the same room, heated) shows none."""
    hours = np.arange(2 * 288) / 12.0
    temperature = np.full(len(hours), 20.0)
    after = hours >= 30.0
    temperature[after] = 14.0 + 6.0 * np.exp(-(hours[after] - 30.0) / 7.0)
    expected = np.full(len(hours), 20.0)
    steps = _steps(len(hours))
    assert np.abs(np.diff(temperature)).max() * 24 < 2.0                 # never 2 degC in 2 hours
    evidence = heating_evidence(steps, temperature, expected, 2.0, 120, 2.0, 4.0)
    first = int(np.argmax(evidence))
    assert not evidence[:first].any() and evidence[first:].all()
    assert 20.0 - temperature[first] >= 4.0 > 20.0 - temperature[first - 1]
    assert not heating_evidence(steps, temperature, expected, 2.0, 120, 2.0, 99.0).any()


def test_a_home_without_a_baseline_or_reading_is_judged_as_the_sql_does():
    """No baseline yet (expected null): every step counts as evidence (nothing to judge by). A
    missing reading is no fall and not 'below': it ends the cold spell's evidence."""
    steps = _steps(6)
    nan = float("nan")
    ev = heating_evidence(steps, np.array([20, 17, 17, nan, 17, 17.0]),
                          np.array([nan, 21, 21, 21, 21, 21.0]), 2.0, 120, 2.0, 4.0)
    # step 0: no baseline; step 1: 3 degC under the warmest of 2 h; step 2: still cold since;
    # step 3: missing; steps 4-5: the warmest of 2 h is 20 (step 0): a 3 degC fall still
    assert ev.tolist() == [True, True, True, False, True, True]
    ev = heating_evidence(_steps(3), np.array([21, 21, 18.0]), np.array([21, 21, 21.0]), 2.0, 10, 2.0, 4.0)
    assert ev.tolist() == [False, False, True]                          # the window's first end counts


def test_rule_levels_align_to_the_steps_with_nan_for_null_and_absent():
    con = duckdb.connect()
    con.execute("create schema intermediate")
    con.execute("create table intermediate.int_household_rules_flagged "
                "(household_id varchar, step_at timestamp, temperature double, temperature_expected double)")
    con.execute("insert into intermediate.int_household_rules_flagged values "
                "('a', '2025-05-01 00:05', 20.5, null), ('a', '2025-05-01 00:10', null, 21), "
                "('b', '2025-05-01 00:05', 99, 99), ('a', '2025-05-01 00:00', 20, 21)")
    levels = data.rule_levels(con, "a", _steps(4))
    np.testing.assert_array_equal(levels["temperature"], [20, 20.5, np.nan, np.nan])
    np.testing.assert_array_equal(levels["temperature_expected"], [21, np.nan, 21, np.nan])


def _evening_then_door(motion_evening: float, door_hour_expected: float = 0.02):
    """A night from 20:00: the household is normally up until 23:00 (expected motion 0.45 a
    step) and asleep after (0.02); motion_evening of the evening's steps saw motion; the front
    door opens at 00:30 for one step."""
    steps = np.datetime64("2025-05-01T20:00", "us") + np.arange(72) * STEP
    hours = (steps - steps[0]) / np.timedelta64(1, "h") + 20.0
    expected = np.where(hours < 23.0, 0.45, door_hour_expected)
    motion = np.zeros(72)
    awake = np.flatnonzero(hours < 23.0)
    motion[awake[(np.arange(len(awake)) % 10) < motion_evening * 10]] = 1.0   # spread over the evening
    door = np.zeros(72)
    door[54] = 1.0                                                    # 00:30
    return steps, door, motion, expected


DOOR_ARGS = dict(awake_rate=0.3, empty_minutes=180, empty_share=0.33, empty_rate=0.2)


def test_a_door_into_a_home_empty_all_evening_is_a_late_return_not_a_door_at_night():
    """The same door at 00:30 after two evenings. In one the motion sensor saw the household up
    (40 % of the evening's steps, as its baseline expects): the door opens while it sleeps,
    evidence. In the other it saw no one from 21:30 (the window's start) to the door, through
    hours the household is normally up in: it was out, the door is its return, no evidence."""
    steps, door, motion, expected = _evening_then_door(0.4)
    assert door_evidence(steps, door, motion, expected, **DOOR_ARGS)[54]
    steps, door, motion, expected = _evening_then_door(0.0)
    ev = door_evidence(steps, door, motion, expected, **DOOR_ARGS)
    assert not ev.any()
    pred = np.zeros(72, dtype=np.int64)
    pred[54:56] = 4
    assert not drop_blips(pred, 1, {}, {4: ev}).any()
    # a door deep in the night, the last three hours all asleep (baseline 0.02): a sleeping home
    # is as quiet as an empty one, and that is no sign of one
    late = np.zeros(72)
    late[71] = 1.0                                                    # 01:55
    quiet = np.where(steps >= steps[0] + np.timedelta64(5, "h"), 0.0, motion)
    assert door_evidence(steps, late, quiet, np.where(np.arange(72) >= 30, 0.02, expected), **DOOR_ARGS)[71]


def test_a_door_at_an_hour_the_household_is_usually_up_or_not_open_shows_no_evidence():
    """A door opening at an hour whose baseline motion is 0.4 a step (the household is up then
    on most days: an early departure) has no evidence; a predicted door step with the door
    closed or unread has none; a home with no motion baseline yet keeps it (cannot be judged)."""
    steps, door, motion, expected = _evening_then_door(0.4, door_hour_expected=0.4)
    assert not door_evidence(steps, door, motion, expected, **DOOR_ARGS).any()
    steps, door, motion, expected = _evening_then_door(0.4)
    shut = door.copy()
    shut[54] = np.nan
    assert not door_evidence(steps, shut, motion, expected, **DOOR_ARGS).any()
    ev = door_evidence(steps, door, np.zeros(72), np.full(72, np.nan), **DOOR_ARGS)
    assert ev[54] and ev.sum() == 1
    # a baseline known for under half the window (a home's first days) cannot judge it empty
    patchy = np.where(np.arange(72) >= 30, np.nan, expected)           # known for 12 of its 36 steps
    patchy[54] = 0.02
    assert door_evidence(steps, door, np.zeros(72), patchy, **DOOR_ARGS)[54]
    patchy = np.where(np.arange(72) >= 45, np.nan, expected)           # known for 27 of 36: judged
    patchy[54] = 0.02
    assert not door_evidence(steps, door, np.zeros(72), patchy, **DOOR_ARGS)[54]


def test_a_fridge_failure_needs_the_fridge_off_longer_than_a_defrost():
    """The classifier names two fridge-failure runs: a 40-minute defrost (off minutes up to 40)
    and a fridge off from step 0 whose run reaches 75 minutes off: the first is dropped, the
    second kept whole. A meter that stopped reporting (no rules row: NaN) shows no failure."""
    off = np.r_[np.arange(0, 45, 5), np.zeros(11), np.arange(0, 120, 5)].astype(float)
    pred = np.zeros(len(off), dtype=np.int64)
    pred[1:9] = 3                                         # the defrost
    pred[26:40] = 3                                       # 10-75 minutes off
    out = drop_blips(pred, 1, {}, {3: fridge_evidence(off, 75.0)})
    assert not out[:20].any() and (out[26:40] == 3).all()
    assert not fridge_evidence(np.array([np.nan, 80.0]), 75.0)[0]


def test_a_fall_back_to_the_usual_level_is_no_failure_and_a_new_home_needs_the_cold():
    """A room 3 degC over its baseline after cooking falls back to it within the hour: a fall of
    3 degC, but not into the cold, no evidence; the same fall to 3 degC under the baseline is.
    A home without a baseline yet: a room at 17 degC cooling slowly shows nothing, one at 14
    degC (under heating_cold_c, 15) does, and so does a fast fall."""
    steps = _steps(13)
    expected = np.full(13, 20.0)
    back = np.r_[np.full(6, 23.0), np.linspace(23.0, 20.0, 7)]
    assert not heating_evidence(steps, back, expected, 2.0, 120, 2.0, 4.0, 15.0).any()
    into = back - 3.0
    assert heating_evidence(steps, into, expected, 2.0, 120, 2.0, 4.0, 15.0)[-1]
    nan = np.full(13, np.nan)
    slow = np.linspace(17.0, 16.6, 13)
    assert not heating_evidence(steps, slow, nan, 2.0, 120, 2.0, 4.0, 15.0).any()
    assert heating_evidence(steps, slow - 3.0, nan, 2.0, 120, 2.0, 4.0, 15.0).all()
    assert heating_evidence(steps, into, nan, 2.0, 120, 2.0, 4.0, 15.0)[-1]
