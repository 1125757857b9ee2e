-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- A regular grid: one row per household, sensor and step, from the household's first step
-- to its last. Steps without a reading are flagged; continuous sensors' short gaps
-- (up to max_fill_minutes) are forward-filled and flagged as filled, longer gaps stay null.

{%- set fill_steps = steps(var('max_fill_minutes')) | int %}

with

bucketed as (

    select * from {{ ref('int_readings_bucketed_to_steps') }}
    {% if is_incremental() %}
    where step_at >= {{ recompute_from() }} - interval '{{ var("context_hours") }} hours'
    {% endif %}

),

household_sensors as (

    -- every sensor a household ever reported, so one that fell silent shows as missing
    select household_id, sensor, any_value(sensor_kind) as sensor_kind
    from {{ ref('int_readings_bucketed_to_steps') }}
    group by household_id, sensor

),

household_spans as (

    select household_id, min(step_at) as first_step_at, max(step_at) as last_step_at
    from bucketed
    group by household_id

),

grid as (

    select
        household_sensors.household_id,
        household_sensors.sensor,
        household_sensors.sensor_kind,
        unnest(generate_series(household_spans.first_step_at, household_spans.last_step_at,
                               {{ step_interval() }})) as step_at
    from household_sensors
    inner join household_spans on household_sensors.household_id = household_spans.household_id

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
        last_value(observed_value ignore nulls) over recent as recent_value,
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
        least(coalesce(date_diff('minute', last_reading_at, step_at), {{ var('context_hours') }} * 60),
              {{ var('context_hours') }} * 60) as minutes_since_reading
    from gaps_measured

)

select * from filled
{% if is_incremental() %}
where step_at >= {{ recompute_from() }}
{% endif %}
