{{ config(partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Readings combined into grid steps: continuous sensors averaged, binary sensors max
-- (the event happened during the step). Any sensor name works; unknown ones are continuous.

with

readings as (

    select * from {{ ref('stg_raw__readings') }}
    {% if is_incremental() %}
    where reading_at >= {{ first_new_step() }}
    {% endif %}

),

sensor_types as (

    select * from {{ ref('sensor_types') }}

),

readings_with_kind as (

    select
        readings.household_id,
        readings.sensor,
        {{ xdb_time_bucket(grid_step_seconds(), 'readings.reading_at') }} as step_at,
        readings.value,
        coalesce(sensor_types.kind, 'continuous') as sensor_kind
    from readings
    left join sensor_types on readings.sensor = sensor_types.sensor

),

bucketed as (

    select
        household_id,
        sensor,
        step_at,
        sensor_kind,
        case when sensor_kind = 'binary' then max(value) else avg(value) end as value,
        min(value) as min_value,
        max(value) as max_value,
        count(*) as n_readings
    from readings_with_kind
    group by household_id, sensor, step_at, sensor_kind

)

select *{{ xdb_partition_day('step_at') }} from bucketed
