-- One row per generic incident of a household: the sensor incidents of one household and kind
-- (anomaly or health) that overlap or follow each other within incident_cooldown_minutes,
-- merged, so one event in the home (a cold snap seen by three rooms) raises one alert. Each
-- has its onset (the earliest step the evidence supports), the first step at the alert
-- threshold, its end, the sensors involved, and the evidence at its peak (observed against
-- expected, the channel, the score). Rebuilt on every build from int_sensor_incidents.

with

sensor_incidents as (

    select * from {{ ref('int_sensor_incidents') }}

),

ordered as (

    select
        *,
        -- the latest end among this household and kind's earlier incidents
        max(end_at) over (partition by household_id, kind order by onset_at, sensor
                          rows between unbounded preceding and 1 preceding) as previous_end_at
    from sensor_incidents

),

grouped as (

    select
        *,
        sum(case when previous_end_at is null
                   or onset_at > previous_end_at + {{ xdb_interval(score_minutes(var("incident_cooldown_minutes")) | trim, 'minutes') }}
                 then 1 else 0 end)
            over (partition by household_id, kind order by onset_at, sensor
                  rows between unbounded preceding and current row) as incident_number
    from ordered

),

incidents as (

    select
        household_id,
        kind,
        min(onset_at) as onset_at,
        min(alerted_at) as alerted_at,
        max(end_at) as end_at,
        {{ xdb_sorted_distinct_list('sensor') }} as sensors,
        count(distinct sensor) as n_sensors,
        min(peak_p) as peak_p,
        {{ xdb_first_by('sensor', 'peak_p, peak_at, sensor') }} as peak_sensor,
        {{ xdb_first_by('peak_at', 'peak_p, peak_at, sensor') }} as peak_at,
        {{ xdb_first_by('channel', 'peak_p, peak_at, sensor') }} as channel,
        {{ xdb_first_by('observed_value', 'peak_p, peak_at, sensor') }} as observed_value,
        {{ xdb_first_by('expected_value', 'peak_p, peak_at, sensor') }} as expected_value
    from grouped
    group by household_id, kind, incident_number

),

final as (

    select
        md5(household_id || '|' || kind || '|' || {{ xdb_cast('onset_at', 'varchar') }}) as incident_id,
        household_id,
        kind,
        onset_at,
        alerted_at,
        end_at,
        {{ xdb_date_diff('minute', 'onset_at', 'end_at') }} as duration_minutes,
        sensors,
        n_sensors,
        peak_sensor,
        peak_at,
        channel,
        1.0 - peak_p as peak_score,
        peak_p,
        case
            when peak_p <= {{ var('incident_alert_p') }} / 100 then 'high'
            when peak_p <= {{ var('incident_alert_p') }} / 10 then 'medium'
            else 'low'
        end as severity,
        observed_value,
        expected_value
    from incidents

)

select * from final
