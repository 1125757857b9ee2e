{{ config(materialized='view') }}
-- A regular grid: one row per household, sensor and step, over the steps where the household
-- has data. A silence of up to max_gap_hours (no sensor of the household reports) is gridded
-- step by step as missing; a longer one breaks the series into segments: the grid goes on for
-- context_hours of missing steps after the last reading (so the dropout shows, and no rolling
-- window of at most context_hours reaches across the break), then resumes at the next reading.
-- So the rows are bounded by the data, never by the distance between two timestamps (one
-- reading dated 9999 is one more step, not a disk full of them). Steps without a reading are
-- flagged; continuous sensors' short gaps (up to max_fill_minutes) are forward-filled and
-- flagged as filled, longer gaps stay null.
-- Downstream, a break is any step whose previous row (same household and sensor) is more than
-- one step earlier.
-- A view: the readings' own steps as int_readings_bucketed_to_steps has them, and the missing
-- ones int_readings_missing_steps generates from the gaps between them. Stored, the grid was a
-- copy of the 30M bucketed rows at the default scale, written at every full build (docs/dbt.md,
-- "Store only the grid's missing steps"). Its key is tested through its two parts: each unique,
-- and no missing step where there is a reading (_intermediate__models.yml).

select
    household_id,
    sensor,
    sensor_kind,
    step_at,
    value,
    value as observed_value,
    n_readings,
    false as is_missing,
    false as is_filled,
    {{ xdb_cast('0', 'bigint') }} as minutes_since_reading{{ xdb_partition_day('step_at') }}
from {{ ref('int_readings_bucketed_to_steps') }}
{{ xdb_union_all_by_name() }}
select * from {{ ref('int_readings_missing_steps') }}
