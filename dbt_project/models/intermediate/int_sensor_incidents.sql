{{ config(materialized='table') }}
-- One row per generic incident of one sensor: a run of int_sensor_incident_steps of one
-- household, sensor and kind (anomaly or health), steps closer than incident_cooldown_minutes
-- merged, kept when one of its steps reaches incident_alert_p. onset_at is the run's first
-- step (the earliest the evidence supports), alerted_at the first step at the alert threshold,
-- end_at one step after its last. Rebuilt from the small incident-steps table on every build,
-- so an incident that continues across batches stays one incident.

with

incident_steps as (

    select * from {{ ref('int_sensor_incident_steps') }}

),

{{ bridged_runs('incident_steps', 'household_id, sensor, kind', score_minutes(var('incident_cooldown_minutes')) | trim) }},

runs as (

    select
        household_id,
        sensor,
        kind,
        min(step_at) as onset_at,
        {{ xdb_filtered('min(step_at)', 'p <= ' ~ var('incident_alert_p')) }} as alerted_at,
        max(step_at) + {{ step_interval() }} as end_at,
        count(*) as n_steps,
        min(p) as peak_p,
        -- at the peak: the first of the steps with the smallest p (ties broken by time, so
        -- every rebuild of the same data picks the same step)
        {{ xdb_first_by('step_at', 'p, step_at') }} as peak_at,
        {{ xdb_first_by('channel', 'p, step_at') }} as channel,
        {{ xdb_first_by('value', 'p, step_at') }} as observed_value,
        {{ xdb_first_by('expected_value', 'p, step_at') }} as expected_value
    from runs_numbered
    group by household_id, sensor, kind, run_number

),

final as (

    select
        md5(household_id || '|' || sensor || '|' || kind || '|' || {{ xdb_cast('onset_at', 'varchar') }}) as sensor_incident_id,
        *,
        1.0 - peak_p as peak_score,
        case
            when peak_p <= {{ var('incident_alert_p') }} / 100 then 'high'
            when peak_p <= {{ var('incident_alert_p') }} / 10 then 'medium'
            else 'low'
        end as severity
    from runs
    where alerted_at is not null

)

select * from final
