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
    for room, outdoor, inc in _heating(_house(), "physical"):
        hours = (room.index - inc.start_at) / pd.Timedelta("1h")
        free_max = outdoor.to_numpy() + 5.0
        gap = 21.0 - free_max  # the least the room could be pulled down by
        fell = 21.0 - room.to_numpy()
        assert (fell >= 0).all()
        # a time constant of at least 40 h: never more than 1 - exp(-t / 40) of the widest gap
        widest = 21.0 - (outdoor.to_numpy() + 2.0)
        assert (fell <= (1 - np.exp(-hours / 40.0)) * widest + 1e-9).all()
        # ...and at most 100 h: at least 1 - exp(-t / 100) of the narrowest gap, after the first hour
        late = hours >= 1
        assert (fell[late] >= (1 - np.exp(-hours[late] / 100.0)) * gap[late] - 1e-9).all()
        assert inc.drop_c == pytest.approx(fell[-1], abs=0.01)


def test_an_unknown_heating_mode_is_refused():
    with pytest.raises(ValueError, match="heating must be one of"):
        realhouse.inject(_house(), seed=1, copies=1, heating="instant")
