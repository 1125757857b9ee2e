-- One row per anomaly event: runs of flagged steps of one household and rule, merged when
-- less than event_bridge_minutes apart, so one incident raises one alert, not one per step.
-- Domain rules give events with an anomaly class (1-5); the generic rules give sensor
-- anomalies and sensor-health events. A generic anomaly event that overlaps a domain event
-- on the same sensor says the same thing and is dropped.

with

all_steps as (

    select * from {{ ref('int_flagged_steps') }}

),

{{ bridged_runs('all_steps', 'household_id, rule_name, sensor') }},

events as (

    select
        household_id,
        event_kind,
        rule_name,
        anomaly_class,
        sensor,
        any_value(sensors) as sensors,
        min(step_at) as start_at,
        max(step_at) + {{ step_interval() }} as end_at,
        count(*) as n_flagged_steps,
        max(severity) as peak_severity,
        -- at the peak: the first of the steps with the highest severity (ties broken by time,
        -- so every rebuild of the same data picks the same step)
        first(observed_value order by severity desc nulls last, step_at) as observed_value,
        first(expected_value order by severity desc nulls last, step_at) as expected_value,
        first(step_at order by severity desc nulls last, step_at) as peak_at
    from runs_numbered
    group by household_id, event_kind, rule_name, anomaly_class, sensor, run_number

),

duplicates_suppressed as (

    select events.*
    from events
    where not (
        events.event_kind = 'sensor_anomaly'
        and exists (
            select 1 from events as domain_events
            where domain_events.event_kind = 'anomaly'
              and domain_events.household_id = events.household_id
              and list_contains(domain_events.sensors, events.sensor)
              and domain_events.start_at < events.end_at
              and events.start_at < domain_events.end_at
        )
    )

),

final as (

    select
        md5(household_id || '|' || rule_name || '|' || sensor || '|' || start_at::varchar) as event_id,
        *,
        date_diff('minute', start_at, end_at) as duration_minutes
    from duplicates_suppressed

)

select * from final
