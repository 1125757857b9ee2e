"""Bounded frames of a batch's raw readings, computed in SQL, for the raw suites to validate.

Great Expectations validates pandas frames; a first simulated batch holds millions of
readings, so the suites never see raw rows. DuckDB aggregates the batch to one row per
household, sensor and day (or per household and day, or one row), and those small frames
carry everything the expectations need: counts, extremes, the longest repeated run.
"""
from __future__ import annotations

import pandas as pd

from expectations import config
from expectations.batches import Batch


def register_sensor_types(con) -> None:
    """Expose the seed's sensor kinds and physical ranges to SQL as `dq_sensor_types`."""
    frame = pd.DataFrame([vars(t) for t in config.sensor_types().values()])
    con.register("dq_sensor_types", frame)


READINGS_PROFILE_SQL = """
with

batch as (
    select household_id, sensor, reading_at, value, ingested_at from raw.readings where batch_id = $batch_id
),

typed as (
    select batch.*, coalesce(t.kind, 'continuous') as kind, t.physical_min, t.physical_max
    from batch left join dq_sensor_types as t using (sensor)
),

per_day as (
    select
        household_id, sensor, reading_at::date as day, any_value(kind) as kind,
        count(*) as n_readings,
        count(*) - count(distinct reading_at) as n_repeated,
        min(value) as min_value,
        max(value) as max_value,
        count(*) filter (where kind = 'binary' and value not in (0, 1)) as n_not_binary,
        min(value) filter (where kind = 'binary' and value not in (0, 1)) as example_not_binary,
        count(*) filter (where reading_at > ingested_at + to_minutes($future_minutes)) as n_future,
        max(reading_at) as latest_reading_at
    from typed
    group by all
),

-- Runs of one repeated value are measured exactly, but only where one can be: a run of two hours
-- or more covers a whole clock hour with a single value, and starts or ends within an hour of it.
-- So the exact (sorting) pass reads only the days around such "flat hours", a few percent of a big batch.
flat_days as (
    select distinct household_id, sensor, date_trunc('hour', reading_at)::date as day
    from typed
    where kind = 'continuous'
      and value > coalesce(physical_min, '-infinity'::double) and value < coalesce(physical_max, 'infinity'::double)
    group by household_id, sensor, date_trunc('hour', reading_at)
    having min(value) = max(value)
),

near_flat_days as (
    select distinct household_id, sensor, day + shift.d as day
    from flat_days cross join (values (-1), (0), (1)) as shift(d)
),

near_flat as (
    select typed.* from typed
    semi join near_flat_days as n
        on n.household_id = typed.household_id and n.sensor = typed.sensor and n.day = typed.reading_at::date
    where kind = 'continuous'
),

changes as (
    select household_id, sensor, reading_at, value, physical_min, physical_max,
        -- a run also breaks at a gap: a silent sensor is not a stuck one
        case when value = lag(value) over w
              and reading_at - lag(reading_at) over w <= to_minutes($run_max_gap_minutes)
             then 0 else 1 end as starts_run
    from near_flat
    window w as (partition by household_id, sensor order by reading_at)
),

runs as (
    select *, sum(starts_run) over (partition by household_id, sensor order by reading_at
                                    rows unbounded preceding) as run_no
    from changes
),

run_spans as (
    select household_id, sensor, run_no, any_value(value) as value,
        any_value(physical_min) as physical_min, any_value(physical_max) as physical_max,
        min(reading_at) as run_start, max(reading_at) as run_end
    from runs
    group by all
),

-- a flat value AT a physical bound is physics (saturated air, a fridge without power), not a stuck sensor
longest_runs as (
    select household_id, sensor, run_start::date as day,
        max(date_diff('minute', run_start, run_end)) as longest_run_minutes,
        arg_max(value, date_diff('minute', run_start, run_end)) as stuck_value
    from run_spans
    where value > coalesce(physical_min, '-infinity'::double) and value < coalesce(physical_max, 'infinity'::double)
    group by all
)

select per_day.*, coalesce(longest_runs.longest_run_minutes, 0) as longest_run_minutes, longest_runs.stuck_value
from per_day left join longest_runs using (household_id, sensor, day)
order by all
"""


def readings_profile(con, batch: Batch) -> pd.DataFrame:
    """One row per household, sensor and day of the batch."""
    register_sensor_types(con)
    params = {"batch_id": batch.batch_id, "future_minutes": config.FUTURE_TOLERANCE_MINUTES,
              "run_max_gap_minutes": config.STUCK_MAX_GAP_MINUTES}
    return con.execute(READINGS_PROFILE_SQL, params).df()


DAYS_PROFILE_SQL = """
with

batch as (
    select distinct household_id, sensor, reading_at from raw.readings where batch_id = $batch_id
),

pairs as (
    select distinct household_id, sensor from batch
    union
    select h.household_id, s.sensor
    from (select unnest($expected_households::varchar[]) as household_id) as h
    cross join (select distinct sensor from batch) as s
    -- a simulated home expects only the sensors of its kit (its profile lists them)
    left join raw.households as kits on kits.household_id = h.household_id
    where json_extract(kits.profile, '$.sensors') is null
       or list_contains(json_extract(kits.profile, '$.sensors')::varchar[], s.sensor)
),

-- each sensor's reading interval, measured on the batch's newest day (a cadence does not change by the day)
gaps as (
    select household_id, sensor,
        epoch(reading_at) - epoch(lag(reading_at) over (partition by household_id, sensor order by reading_at)) as gap_s
    from batch
    where reading_at >= $last_at::timestamp - interval 1 day
),

cadences as (
    select household_id, sensor, median(gap_s) as cadence_s from gaps where gap_s > 0 group by all
),

typical_cadence as (
    select coalesce(median(gap_s), $default_cadence_s) as cadence_s from gaps where gap_s > 0
),

-- The days the batch has readings on, and one row per run of days in between with none at all
-- (n_days of them): rows bounded by the readings, not by the distance between the first and the
-- last (a 2015 reading in a 2025 file is one silent run, not 3,650 rows per sensor).
reading_days as (
    select distinct reading_at::date as day from batch where reading_at <= $last_at::timestamp
),

days as (
    select day, 1 as n_days, false as is_silent from reading_days
    union all
    select (previous_day + 1)::date as day, day - previous_day - 1 as n_days, true as is_silent
    from (select day, lag(day) over (order by day) as previous_day from reading_days)
    where day - previous_day > 1
),

expected as (
    select pairs.household_id, pairs.sensor, days.day, days.n_days, days.is_silent,
        coalesce(cadences.cadence_s, (select cadence_s from typical_cadence)) as cadence_s
    from pairs
    cross join days
    left join cadences using (household_id, sensor)
),

-- a silent run lies inside the batch's span: each of its days expects a whole day of readings
covered as (
    select *,
        case when is_silent then n_days * round(86400 / cadence_s)
            else round(greatest(0, epoch(least(day + interval 1 day, $last_at::timestamp + to_seconds(cadence_s)))
                                   - epoch(greatest(day::timestamp, $first_at::timestamp))) / cadence_s)
        end as n_expected
    from expected
),

received as (
    select household_id, sensor, reading_at::date as day, count(*) as n_received from batch group by all
)

select
    covered.household_id, covered.day,
    sum(covered.n_expected)::bigint as n_expected,
    sum(least(coalesce(received.n_received, 0), covered.n_expected))::bigint as n_received,
    count(*) filter (where received.n_received is null) as n_sensors_silent,
    coalesce(sum(least(coalesce(received.n_received, 0), covered.n_expected)) / nullif(sum(covered.n_expected), 0), 1.0)
        as completeness
from covered
left join received using (household_id, sensor, day)
group by all
order by all
"""


def expected_households(con, batch: Batch) -> list[str]:
    """Households that must report in this batch besides those that did.

    A simulated batch covers every simulated home by construction, so one that sent
    nothing is missing; a file brings the homes it names and no others.
    """
    if batch.source != "simulator":
        return []
    return [r[0] for r in con.execute("select household_id from raw.households where source = 'simulator'").fetchall()]


def days_profile(con, batch: Batch) -> pd.DataFrame:
    """One row per household and day: readings expected (from each sensor's own cadence) and received."""
    if batch.is_empty:
        return pd.DataFrame(columns=["household_id", "day", "n_expected", "n_received", "n_sensors_silent", "completeness"])
    params = {"batch_id": batch.batch_id, "expected_households": expected_households(con, batch),
              "first_at": batch.first_reading_at, "last_at": batch.last_reading_at,
              "default_cadence_s": config.DEFAULT_CADENCE_SECONDS}
    return con.execute(DAYS_PROFILE_SQL, params).df()


OVERLAPPING_BATCHES_SQL = """
select count(*) from raw.batches
where batch_id <> $batch_id and finished_at <= $landed_at and min_reading_at <= $last_at and max_reading_at >= $first_at
"""

LANDED_BEFORE_SQL = """
with

batch_keys as (
    select household_id, sensor, reading_at, min(value) as value
    from raw.readings where batch_id = $batch_id
    group by all
),

landed_before as (
    select r.household_id, r.sensor, r.reading_at, bool_or(r.value <> k.value) as conflicts
    from raw.readings as r
    join batch_keys as k using (household_id, sensor, reading_at)
    where r.batch_id <> $batch_id
      and r.reading_at between $first_at and $last_at
      and r.ingested_at <= (select min(ingested_at) from raw.readings where batch_id = $batch_id)
    group by all
)

select count(*), count(*) filter (where conflicts) from landed_before
"""


def landed_before(con, batch: Batch) -> tuple[int, int]:
    """Readings of the batch that an earlier batch already landed, and how many of those disagree.

    Only batches whose span overlaps this one (raw.batches says so) can hold them: a first
    load of millions of readings skips the join entirely.
    """
    params = {"batch_id": batch.batch_id, "first_at": batch.first_reading_at, "last_at": batch.last_reading_at}
    if batch.is_empty or not con.execute(OVERLAPPING_BATCHES_SQL, {**params, "landed_at": batch.landed_at}).fetchall()[0][0]:
        return 0, 0
    return tuple(con.execute(LANDED_BEFORE_SQL, params).fetchall()[0])


def batch_summary(con, batch: Batch, days: pd.DataFrame, profile: pd.DataFrame) -> pd.DataFrame:
    """One row: size, completeness, re-delivered readings and freshness of the whole batch."""
    repeated = int(profile["n_repeated"].sum()) if len(profile) else 0
    already, conflicting = landed_before(con, batch)
    # ingest quarantines the other values of a (household, sensor, time) a file repeats (warehouse.ingest)
    in_file = con.execute("select count(*) from raw.quarantine where batch_id = ? and reason like "
                          "'conflicting duplicate%'", [batch.batch_id]).fetchone()[0]
    expected = float(days["n_expected"].sum()) if len(days) else 0.0
    lag_hours = ((batch.clock_at - batch.last_reading_at).total_seconds() / 3600.0
                 if batch.last_reading_at is not None else None)
    return pd.DataFrame([{
        "batch_id": batch.batch_id,
        "n_readings": batch.n_readings,
        "completeness": float(days["n_received"].sum()) / expected if expected else None,
        "duplicate_share": (repeated + already) / batch.n_readings if batch.n_readings else 0.0,
        "n_repeated_in_batch": repeated,
        "n_already_landed": already,
        "n_conflicting": conflicting,
        "n_conflicting_in_file": in_file,
        "lag_hours": lag_hours,
    }])
