"""The domain rules' own household history (int_household_shower_patterns), on hand-written rows.

dbt compiles the model once; each test writes its input into a scratch warehouse, runs the
compiled SQL and compares the rows with values worked out here from the documented definition
(the model's header and docs/dbt.md, "Domain rules on real homes"). The rule that reads this
history is covered by the dbt unit tests in _intermediate__unit_tests.yml.
"""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from warehouse.project_vars import dbt_var
from warehouse.transform import dbt_target_path, run_dbt

MODEL = "int_household_shower_patterns"
SLOT_MINUTES = 30


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("compile") / "unit.duckdb"
    duckdb.connect(str(db)).close()
    run_dbt(["compile", "--select", MODEL], db=db, dbt_vars={"step_minutes": 5})
    return (dbt_target_path(db.resolve()) / "compiled" / "homewatch" / "models" / "intermediate"
            / f"{MODEL}.sql").read_text()


def patterns(tmp_path, sql: str, rows: list[tuple[str, str, float | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["household_id", "step_at", "humidity"])
    frame["step_at"] = pd.to_datetime(frame["step_at"])
    con = duckdb.connect(str(tmp_path / "unit.duckdb"))
    try:
        con.execute("create schema if not exists intermediate")
        con.register("frame", frame)
        con.execute("create or replace table intermediate.int_household_steps_pivoted as select * from frame")
        out = con.execute(sql).df()
    finally:
        con.close()
    out["pattern_date"] = pd.to_datetime(out["pattern_date"]).dt.strftime("%Y-%m-%d")
    return out.set_index(["household_id", "pattern_date", "slot"]).sort_index()


def slot(hhmm: str) -> int:
    hours, minutes = map(int, hhmm.split(":"))
    return (hours * 60 + minutes) // SLOT_MINUTES


# Day 1: an episode 07:05-07:35 (35 minutes with its last step). Day 2: one 08:35-09:00 (30),
# an hour and a half later in the day. Day 3: one begins at 12:05 and is still running when the
# data ends. Rows are sparse: episodes are runs of consecutive rows at or above humidity_high_rh.
ROWS = [
    ("h1", "2025-01-01 07:00", 50.0), ("h1", "2025-01-01 07:05", 90.0), ("h1", "2025-01-01 07:35", 90.0),
    ("h1", "2025-01-01 07:40", 50.0),
    ("h1", "2025-01-02 08:30", 50.0), ("h1", "2025-01-02 08:35", 80.0), ("h1", "2025-01-02 09:00", 80.0),
    ("h1", "2025-01-02 09:05", None),
    ("h1", "2025-01-03 12:00", 50.0), ("h1", "2025-01-03 12:05", 95.0),
]


def test_the_pattern_is_a_share_of_past_days_spread_over_nearby_times(compiled, tmp_path):
    out = patterns(tmp_path, compiled, ROWS)
    reach = dbt_var("shower_pattern_hours") * 60 // SLOT_MINUTES   # slots either side of an onset
    assert reach == 3  # the arithmetic below assumes the documented 1.5 hours
    day3 = out.loc[("h1", "2025-01-03")]
    assert (day3["days_known"] == 2).all()
    # 07:00 is within 1.5 h of both past onsets (07:05 and 08:35): both past days
    assert day3.loc[slot("07:00"), "shower_pattern_share"] == pytest.approx(1.0)
    # 05:30 only reaches day 1's onset, 10:00 only day 2's: half the past days
    assert day3.loc[slot("05:30"), "shower_pattern_share"] == pytest.approx(0.5)
    assert day3.loc[slot("10:00"), "shower_pattern_share"] == pytest.approx(0.5)
    # 05:00 and 10:30 are further than 1.5 h from every past onset
    assert day3.loc[slot("05:00"), "shower_pattern_share"] == 0.0
    assert day3.loc[slot("10:30"), "shower_pattern_share"] == 0.0
    # day 3's own episode (12:05) is not part of day 3's history
    assert day3.loc[slot("12:00"), "shower_pattern_share"] == 0.0
    # day 2 knows only day 1
    day2 = out.loc[("h1", "2025-01-02")]
    assert day2.loc[slot("08:30"), "shower_pattern_share"] == pytest.approx(1.0)   # 07:05 + 1.5 h
    assert day2.loc[slot("09:00"), "shower_pattern_share"] == 0.0
    # the first day has no history: no share at all, not "never showers"
    assert out.loc[("h1", "2025-01-01"), "shower_pattern_share"].isna().all()


def test_long_showers_are_learned_from_ended_episodes_only(compiled, tmp_path):
    out = patterns(tmp_path, compiled, ROWS)
    quantile = dbt_var("shower_history_quantile")
    day3 = out.loc[("h1", "2025-01-03")].iloc[0]
    assert day3["episodes_known"] == 2
    # the lengths are 35 and 30 minutes: their quantile, interpolated
    assert day3["typical_long_minutes"] == pytest.approx(30 + quantile * 5)
    day2 = out.loc[("h1", "2025-01-02")].iloc[0]
    assert (day2["episodes_known"], day2["typical_long_minutes"]) == (1, pytest.approx(35.0))
    # the episode still running at the end of the data is no one's history yet: with one more
    # day of data it would be, once it has ended
    later = patterns(tmp_path, compiled, ROWS + [("h1", "2025-01-03 13:00", 95.0), ("h1", "2025-01-03 13:05", 50.0),
                                                  ("h1", "2025-01-04 08:00", 50.0)])
    day4 = later.loc[("h1", "2025-01-04")].iloc[0]
    assert day4["episodes_known"] == 3
    assert day4["typical_long_minutes"] == pytest.approx(pd.Series([35.0, 30.0, 60.0]).quantile(quantile))
