-- One row per anomaly event: runs of flagged steps of one household and rule, merged when
-- less than event_bridge_minutes apart (int_anomaly_runs), so one incident raises one alert,
-- not one per step. Domain rules give events with an anomaly class (1-5); the generic rules
-- give sensor anomalies and sensor-health events. A generic anomaly event that overlaps a
-- domain event on the same sensor says the same thing and is dropped. A table rebuilt on
-- every build from the incremental runs: a few hundred thousand rows, well under a second.

with

events as (

    select * from {{ ref('int_anomaly_runs') }}

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
