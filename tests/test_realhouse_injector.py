"""bench/realhouse.py's injector: its heating failures cool as fast or as slowly as it says.

A synthetic house stands in for the real one (which is not part of the repository): a living room
held at 21 degC, an outdoor temperature of 0-10 degC, and the columns the injector picks from.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import realhouse


def _house(days: int = 12) -> pd.DataFrame:
    index = pd.date_range("2016-02-14", periods=days * 144, freq="10min")
    hours = np.arange(len(index)) / 6.0
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "t1": 20.0 + 0.1 * rng.standard_normal(len(index)),
        "rh_1": 40.0 + rng.standard_normal(len(index)),
        "t3": 20.5 + 0.1 * rng.standard_normal(len(index)),
        "rh_3": 42.0 + rng.standard_normal(len(index)),
        "t2": np.full(len(index), 21.0),
        "rh_5": 50.0 + rng.standard_normal(len(index)),
        "t5": np.full(len(index), 19.0),
        "t_out": 5.0 + 5.0 * np.sin(2 * np.pi * hours / 24.0),
        "press_mm_hg": 755.0 + rng.standard_normal(len(index)),
    }, index=index)
    frame.index.name = "reading_at"
    return frame


def _heating(wide: pd.DataFrame, heating: str) -> list[tuple[pd.Series, pd.Series, pd.Timestamp]]:
    """Per injected heating failure: the living room's injected values, the outdoor temperature
    over the same steps, and the start."""
    long, incidents = realhouse.inject(wide, seed=3, copies=4, heating=heating)
    out = []
    for inc in incidents[incidents.kind == "heating_failure"].itertuples():
        room = long[(long.household == inc.household_id) & (long.sensor == "t2")].set_index("reading_at")["value"]
        span = (room.index >= inc.start_at) & (room.index < inc.end_at)
        out.append((room[span], wide.loc[span, "t_out"], inc))
    assert len(out) == 4
    return out


def test_fast_heating_failures_cool_within_hours():
    for room, _, inc in _heating(_house(), "fast"):
        twelve = room[room.index < inc.start_at + pd.Timedelta("12h")]
        # towards 10-14 degC with a time constant of at most 10 h: 70 % of the way in 12 h
        assert room.iloc[0] == pytest.approx(21.0)
        assert 21.0 - twelve.iloc[-1] > 0.69 * (21.0 - 14.0)
        assert inc.drop_c > 4.0


def test_physical_heating_failures_cool_as_slowly_as_a_house():
    wide = _house()
    low, high = wide.t_out.min() + 2.0, wide.t_out.max() + 5.0  # where the house running free can be
    for room, _, inc in _heating(wide, "physical"):
        hours = (room.index - inc.start_at) / pd.Timedelta("1h")
        fell = 21.0 - room.to_numpy()
        # a lag with a time constant of 40-100 h towards low..high: the room has moved at most
        # 1 - exp(-t / 40) and at least 1 - exp(-t / 100) of the way to the ends of that range
        assert (fell <= (1 - np.exp(-hours / 40.0)) * (21.0 - low) + 1e-9).all()
        assert (fell >= (1 - np.exp(-hours / 100.0)) * (21.0 - high) - 1e-9).all()
        # ...and each 10-minute step moves it at most 1 - exp(-1/6 h / 40 h) of its distance to
        # the range: the outdoor day-night swing (10 degC here) is damped, not followed
        before = room.to_numpy()[:-1]
        step_bound = (1 - np.exp(-(1 / 6) / 40.0)) * np.maximum(np.abs(before - low), np.abs(before - high))
        assert (np.abs(np.diff(room.to_numpy())) <= step_bound + 1e-9).all()
        assert inc.drop_c == pytest.approx(fell[-1], abs=0.01) and inc.drop_c > 0.5


def test_physical_failures_change_nothing_else():
    wide = _house()
    fast_long, fast = realhouse.inject(wide, seed=3, copies=4)
    physical_long, physical = realhouse.inject(wide, seed=3, copies=4, heating="physical")
    columns = ["household_id", "kind", "sensor", "start_at", "end_at"]
    pd.testing.assert_frame_equal(fast[columns], physical[columns])
    others = fast_long.sensor != "t2"
    pd.testing.assert_frame_equal(fast_long[others], physical_long[physical_long.sensor != "t2"])
    assert not fast_long[~others].value.equals(physical_long[physical_long.sensor == "t2"].value)


def test_an_unknown_heating_mode_is_refused():
    with pytest.raises(ValueError, match="heating must be one of"):
        realhouse.inject(_house(), seed=1, copies=1, heating="instant")
