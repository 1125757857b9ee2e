-- One row per anomaly event: runs of flagged steps of one household and rule, merged when
-- less than event_bridge_minutes apart (int_anomaly_runs), so one incident raises one alert,
-- not one per step. Domain rules give events with an anomaly class (1-5); the calibrated
-- generic score gives sensor anomalies and sensor-health events, one per sensor incident
-- (int_sensor_incidents; marts.fct_incidents merges them per household). A generic anomaly event that overlaps a
-- domain event on the same sensor says the same thing and is dropped. A table rebuilt on
-- every build from the incremental runs: a few hundred thousand rows, well under a second.

with

domain_events as (

    select * from {{ ref('int_anomaly_runs') }}

),

sensor_incidents as (

    select * from {{ ref('int_sensor_incidents') }}

),

events as (

    select {{ xdb_star_by_name('household_id, event_kind, rule_name, anomaly_class, sensor, sensors, start_at, end_at, '
                                ~ 'n_flagged_steps, peak_severity, observed_value, expected_value, peak_at') }} from domain_events

    {{ xdb_union_all_by_name() }}

    -- the generic incidents, one per sensor, as events: rule_name is the channel at the peak
    select
        household_id,
        case when kind = 'health' then 'sensor_health' else 'sensor_anomaly' end as event_kind,
        channel as rule_name,
        0 as anomaly_class,
        sensor,
        {{ xdb_list_literal('[sensor]') }} as sensors,
        onset_at as start_at,
        end_at,
        n_steps as n_flagged_steps,
        peak_score as peak_severity,
        observed_value,
        expected_value,
        peak_at
    from sensor_incidents

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
              and {{ xdb_list_contains('domain_events.sensors', 'events.sensor') }}
              and domain_events.start_at < events.end_at
              and events.start_at < domain_events.end_at
        )
    )

),

final as (

    select
        md5(household_id || '|' || rule_name || '|' || sensor || '|' || {{ xdb_cast('start_at', 'varchar') }}) as event_id,
        *,
        {{ xdb_date_diff('minute', 'start_at', 'end_at') }} as duration_minutes
    from duplicates_suppressed

)

select * from final
