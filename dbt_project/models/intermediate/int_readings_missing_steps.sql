{{ config(partition_by=xdb_partition_by(), replace_from='build_window') }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- The grid's missing steps (int_readings_gridded is the bucketed readings plus these): per
-- household, sensor and step, the steps without a reading over the steps where the household
-- has data. A silence of up to max_gap_hours (no sensor of the household reports) is gridded
-- step by step as missing; a longer one breaks the series into segments: the grid goes on for
-- context_hours of missing steps after the last reading (so the dropout shows, and no rolling
-- window of at most context_hours reaches across the break), then resumes at the next reading.
-- So the rows are bounded by the data, never by the distance between two timestamps (one
-- reading dated 9999 is one more step, not a disk full of them). Continuous sensors' short gaps
-- (up to max_fill_minutes) are forward-filled and flagged as filled, longer gaps stay null.
-- The missing steps are generated from each series' gaps (where its next reading is more than a
-- step away, and before its first) within the household's segments: no grid of every step is
-- built and joined back to the readings (a 30M x 30M join at the default scale: 16.9 s alone
-- against 12.8 s this way, identical rows). Only they are stored: the readings' own 30M steps
-- are read from int_readings_bucketed_to_steps by the grid view, not copied (docs/dbt.md,
-- "Store only the grid's missing steps").
-- An incremental build replaces every row from recompute_from() on (replace_from: this model
-- emits only some steps, and a step a new reading fills must leave it).

{%- set fill_steps = steps(var('max_fill_minutes')) | int %}
{%- set fill_window = xdb_interval(fill_steps * (grid_step_seconds() | trim | int), 'seconds') %}
{%- set max_gap_hours = var('max_gap_hours') | float %}
{%- set pad_hours = var('context_hours') | float %}
{%- set max_gap = xdb_interval((max_gap_hours * 3600) | int, 'seconds') %}
{%- set pad = xdb_interval((pad_hours * 3600) | int, 'seconds') %}
{%- if max_gap_hours < pad_hours + 24 %}
    {{ exceptions.raise_compiler_error("max_gap_hours (" ~ max_gap_hours ~ ") must be at least context_hours + 24 ("
        ~ (pad_hours + 24) ~ "): a segment's end runs on for context_hours, and it must not share a day with the next segment") }}
{%- endif %}

with

-- read twice (the household's steps, the series' gaps), each time from the table: stored as a
-- CTE it was a 30M-row copy (24.5 s alone against 22.4 s at the default scale, two runs each,
-- when the grid read it three times)
bucketed as {{ cte_inline() }} (

    select * from {{ ref('int_readings_bucketed_to_steps') }}
    {{ recompute_filter(context=true) }}

),

data_steps as (

    -- the steps where the household has any reading
    select distinct household_id, step_at from bucketed

),

data_steps_spaced as (

    select
        household_id,
        step_at,
        lag(step_at) over household_order as previous_step_at,
        lead(step_at) over household_order as next_step_at
    from data_steps
    window household_order as (partition by household_id order by step_at)

),

segments_numbered as (

    -- a step that follows more than max_gap_hours of silence starts a segment
    select
        *,
        sum(case when previous_step_at is null
                   or step_at - previous_step_at > {{ max_gap }} then 1 else 0 end)
            over (partition by household_id order by step_at
                  rows between unbounded preceding and current row) as segment_number,
        next_step_at - step_at > {{ max_gap }} as is_before_break
    from data_steps_spaced

),

segments as (

    -- one row per segment: its first step, and its last one run on for context_hours when a
    -- break follows (never up to the next segment). In an incremental build the first segment
    -- may start at the window's start: the rows it changes are those from recompute_from() on,
    -- where it agrees with a full refresh.
    select
        household_id,
        segment_number,
        min(step_at) as first_step_at,
        max(step_at) as last_reading_step_at,
        max(case when is_before_break then next_step_at end) as next_segment_at
    from segments_numbered
    group by household_id, segment_number

),

segment_spans as (

    select
        household_id,
        first_step_at,
        case
            when next_segment_at is null then last_reading_step_at
            else least(last_reading_step_at + {{ pad }}, next_segment_at - {{ step_interval() }})
        end as last_step_at
    from segments

),

series_spaced as (

    -- each observed step with the series' previous and next observed steps
    select
        household_id,
        sensor,
        sensor_kind,
        step_at,
        value,
        lag(step_at) over series_order as previous_step_at,
        lead(step_at) over series_order as next_step_at
    from bucketed
    window series_order as (partition by household_id, sensor order by step_at)

),

gaps as (

    -- a gap after each observed step whose next step has no reading (open-ended after the
    -- series' last), and one before the series' first reading (open-ended before it); a gap
    -- keeps the reading it follows, which short gaps of continuous sensors are filled with
    select household_id, sensor, sensor_kind, step_at as gap_after, value as value_before, next_step_at as gap_before
    from series_spaced
    where next_step_at is null or next_step_at > step_at + {{ step_interval() }}
    union all
    select
        household_id, sensor, sensor_kind,
        {{ xdb_cast('null', 'timestamp') }} as gap_after,
        {{ xdb_cast('null', 'double') }} as value_before,
        step_at as gap_before
    from series_spaced
    where previous_step_at is null

),

missing_steps as (

    -- the steps of each segment a gap overlaps that lie strictly inside the gap: a gap that
    -- spans a break ends its first segment's run-on and starts the next segment's steps
    select
        gaps.household_id,
        gaps.sensor,
        gaps.sensor_kind,
        gaps.gap_after,
        gaps.value_before,
        {{ xdb_step_series(
            'case when gaps.gap_after is null then segment_spans.first_step_at else greatest(gaps.gap_after + '
                ~ step_interval() ~ ', segment_spans.first_step_at) end',
            'case when gaps.gap_before is null then segment_spans.last_step_at else least(gaps.gap_before - '
                ~ step_interval() ~ ', segment_spans.last_step_at) end',
            grid_step_seconds()) }} as step_at
    from gaps
    inner join segment_spans
        on gaps.household_id = segment_spans.household_id
        and (gaps.gap_before is null or segment_spans.first_step_at < gaps.gap_before)
        and (gaps.gap_after is null or segment_spans.last_step_at > gaps.gap_after)

),

filled as (

    -- a continuous sensor's gap is filled with the reading before it for max_fill_minutes;
    -- minutes_since_reading is capped at the context window, which is all an incremental
    -- build can see
    select
        household_id,
        sensor,
        sensor_kind,
        step_at,
        case when sensor_kind = 'continuous' and step_at <= gap_after + {{ fill_window }} then value_before end as value,
        {{ xdb_cast('null', 'double') }} as observed_value,
        {{ xdb_cast('0', 'bigint') }} as n_readings,
        true as is_missing,
        coalesce(sensor_kind = 'continuous' and step_at <= gap_after + {{ fill_window }}, false) as is_filled,
        {{ xdb_cast('least(coalesce(' ~ xdb_date_diff('minute', 'gap_after', 'step_at') ~ ', ' ~ var('context_hours') ~ ' * 60), '
                    ~ var('context_hours') ~ ' * 60)', 'bigint') }} as minutes_since_reading
    from missing_steps

)

select *{{ xdb_partition_day('step_at') }} from filled
{{ recompute_filter() }}
