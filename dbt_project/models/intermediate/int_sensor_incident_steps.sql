{{ config(replace_from='build_window', partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- The steps that can belong to a generic incident, one row per household, sensor, kind and
-- step: anomaly steps (anomaly_p at most incident_hold_p), health steps (a spike's p at most
-- incident_hold_p, a stuck sensor, a reading missing for max_fill_minutes or more). A small table
-- that int_sensor_incidents merges into incidents. A stuck or silent sensor's step carries
-- p = incident_alert_p / 10: a fault, not a degree of surprise (severity 'medium').

{%- set fault_p = var('incident_alert_p') / 10 %}

with

scores as (

    select * from {{ ref('int_sensor_scores') }}
    where (anomaly_p <= {{ var('incident_hold_p') }} or health_p <= {{ var('incident_hold_p') }})
    {% if is_incremental() %}
    and step_at >= {{ recompute_from() }}
    {% endif %}

),

missing as (

    select * from {{ ref('int_readings_gridded') }}
    -- a reading missing beyond the fill limit (binary sensors are never filled: one lost door
    -- reading is not a dropout)
    where is_missing and not is_filled and minutes_since_reading >= {{ var('max_fill_minutes') }}
    {% if is_incremental() %}
    and step_at >= {{ recompute_from() }}
    {% endif %}

),

anomaly_steps as (

    select household_id, sensor, 'anomaly' as kind, step_at, anomaly_p as p, anomaly_channel as channel,
           value, expected_value
    from scores
    where anomaly_p <= {{ var('incident_hold_p') }}

),

health_steps as (

    select household_id, sensor, 'health' as kind, step_at,
           case when is_stuck then {{ fault_p }} else health_p end as p, health_kind as channel,
           value,
           -- a stuck sensor is expected to have changed within stuck_limit_minutes
           case when is_stuck then null else expected_value end as expected_value
    from scores
    where health_p <= {{ var('incident_hold_p') }}

    union all

    select household_id, sensor, 'health' as kind, step_at, {{ fault_p }} as p, 'dropout' as channel,
           {{ xdb_cast('null', 'double') }} as value, {{ xdb_cast('null', 'double') }} as expected_value
    from missing

)

select *{{ xdb_partition_day('step_at') }} from anomaly_steps
union all
select *{{ xdb_partition_day('step_at') }} from health_steps
