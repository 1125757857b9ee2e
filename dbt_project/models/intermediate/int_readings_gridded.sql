{{ config(partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
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

{%- set fill_steps = steps(var('max_fill_minutes')) | int %}
{%- set max_gap_hours = var('max_gap_hours') | float %}
{%- set pad_hours = var('context_hours') | float %}
{%- set max_gap = xdb_interval((max_gap_hours * 3600) | int, 'seconds') %}
{%- set pad = xdb_interval((pad_hours * 3600) | int, 'seconds') %}
{%- if max_gap_hours < pad_hours + 24 %}
    {{ exceptions.raise_compiler_error("max_gap_hours (" ~ max_gap_hours ~ ") must be at least context_hours + 24 ("
        ~ (pad_hours + 24) ~ "): a segment's end runs on for context_hours, and it must not share a day with the next segment") }}
{%- endif %}

with

-- read twice (the household's steps, the join), each time from the table: stored as a CTE it was
-- a 30M-row copy (24.5 s alone against 22.4 s at the default scale, two runs each)
bucketed as {{ cte_inline() }} (

    select * from {{ ref('int_readings_bucketed_to_steps') }}
    {{ recompute_filter(context=true) }}

),

household_sensors as (

    -- every sensor a household ever reported, so one that fell silent shows as missing
    select household_id, sensor, any_value(sensor_kind) as sensor_kind
    from {{ ref('int_readings_bucketed_to_steps') }}
    group by household_id, sensor

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

grid as (

    select
        household_sensors.household_id,
        household_sensors.sensor,
        household_sensors.sensor_kind,
        {{ xdb_step_series('segment_spans.first_step_at', 'segment_spans.last_step_at',
                          grid_step_seconds()) }} as step_at
    from household_sensors
    inner join segment_spans on household_sensors.household_id = segment_spans.household_id

),

grid_joined_to_readings as (

    select
        grid.household_id,
        grid.sensor,
        grid.sensor_kind,
        grid.step_at,
        bucketed.value as observed_value,
        coalesce(bucketed.n_readings, 0) as n_readings
    from grid
    left join bucketed
        on grid.household_id = bucketed.household_id
        and grid.sensor = bucketed.sensor
        and grid.step_at = bucketed.step_at

),

gaps_measured as (

    select
        *,
        {{ xdb_last_value_ignore_nulls('observed_value') }} over recent as recent_value,
        max(case when observed_value is not null then step_at end) over history as last_reading_at
    from grid_joined_to_readings
    window
        recent as (partition by household_id, sensor order by step_at
                   rows between {{ fill_steps }} preceding and current row),
        history as (partition by household_id, sensor order by step_at
                    rows between unbounded preceding and current row)

),

filled as (

    select
        household_id,
        sensor,
        sensor_kind,
        step_at,
        case
            when observed_value is not null then observed_value
            when sensor_kind = 'continuous' then recent_value
        end as value,
        observed_value,
        n_readings,
        observed_value is null as is_missing,
        observed_value is null and sensor_kind = 'continuous' and recent_value is not null as is_filled,
        -- capped at the context window, which is all an incremental build can see
        least(coalesce({{ xdb_date_diff('minute', 'last_reading_at', 'step_at') }}, {{ var('context_hours') }} * 60),
              {{ var('context_hours') }} * 60) as minutes_since_reading
    from gaps_measured

)

select *{{ xdb_partition_day('step_at') }} from filled
{{ recompute_filter() }}
