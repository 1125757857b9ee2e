-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Domain rules for the known sensors, one per anomaly class, per household and step, with
-- the evidence (observed vs expected) and a severity in [0, 1]; rule_class is the highest
-- class that fired (priority 5 > 4 > 3 > 2 > 1), 0 when none did.
--   1 heating failure:   temperature below its hour-of-day baseline by heating_drop_c
--                        over the whole sustained window (a short airing dip recovers)
--   2 humidity anomaly:  humidity high for at least a shower's length, at an hour outside the
--                        household's learned shower pattern (or for twice a shower's length)
--   3 fridge failure:    fridge power below fridge_low_w for at least fridge_max_off_minutes
--   4 door at night:     the front door opens in an hour the household sleeps (learned
--                        from its motion: hourly rate below sleep_motion_rate)
--   5 fire:              the fire alarm is on

{%- set max_run = var('context_hours') * 60 %}

with

grid as (

    select * from {{ ref('int_household_steps_pivoted') }}
    {% if is_incremental() %}
    where step_at >= {{ recompute_from() }} - interval '{{ var("context_hours") }} hours'
    {% endif %}

),

runs_measured as (

    select
        *,
        -- a missing reading ends a run: we cannot claim the fridge stayed off through a gap
        max(case when humidity is null or humidity < {{ var('humidity_high_rh') }} then step_at end)
            over history as humidity_last_normal_at,
        max(case when fridge_power is null or fridge_power >= {{ var('fridge_low_w') }} then step_at end)
            over history as fridge_last_on_at
    from grid
    window history as (partition by household_id order by step_at rows between unbounded preceding and current row)

),

run_lengths as (

    select
        *,
        least(coalesce(date_diff('minute', humidity_last_normal_at, step_at), {{ max_run }}), {{ max_run }})
            as humidity_high_minutes,
        least(coalesce(date_diff('minute', fridge_last_on_at, step_at), {{ max_run }}), {{ max_run }})
            as fridge_off_minutes
    from runs_measured

),

rules as (

    select
        *,
        coalesce(temperature_max_deviation_sustained < -{{ var('heating_drop_c') }}, false) as is_heating_failure,
        coalesce(
            humidity_high_minutes >= {{ var('max_shower_minutes') }}
            and (coalesce(humidity_high_share, 0) < {{ var('shower_hour_share') }}
                 or humidity_high_minutes >= 2 * {{ var('max_shower_minutes') }}),
            false) as is_humidity_anomaly,
        coalesce(fridge_off_minutes >= {{ var('fridge_max_off_minutes') }} and fridge_power is not null, false)
            as is_fridge_failure,
        coalesce(door = 1 and motion_expected_mean < {{ var('sleep_motion_rate') }}, false) as is_door_at_night,
        coalesce(fire_alarm = 1, false) as is_fire
    from run_lengths

),

severities as (

    select
        *,
        case when is_heating_failure
            then {{ severity('-temperature_max_deviation_sustained', var('heating_drop_c')) }} else 0 end
            as heating_failure_severity,
        case when is_humidity_anomaly
            then {{ severity('humidity_high_minutes', var('max_shower_minutes')) }} else 0 end
            as humidity_anomaly_severity,
        case when is_fridge_failure
            then {{ severity('fridge_off_minutes', var('fridge_max_off_minutes')) }} else 0 end
            as fridge_failure_severity,
        case when is_door_at_night
            then 1.0 - 0.5 * motion_expected_mean / {{ var('sleep_motion_rate') }} else 0 end
            as door_at_night_severity,
        case when is_fire then 1.0 else 0 end as fire_severity
    from rules

),

classified as (

    select
        household_id,
        step_at,
        temperature, humidity, fridge_power, motion, door, fire_alarm,
        temperature_expected,
        humidity_expected,
        humidity_high_share,
        fridge_power_expected_mean,
        motion_expected_mean,
        humidity_high_minutes,
        fridge_off_minutes,
        is_heating_failure, is_humidity_anomaly, is_fridge_failure, is_door_at_night, is_fire,
        heating_failure_severity, humidity_anomaly_severity, fridge_failure_severity,
        door_at_night_severity, fire_severity,
        case
            when is_fire then 5
            when is_door_at_night then 4
            when is_fridge_failure then 3
            when is_humidity_anomaly then 2
            when is_heating_failure then 1
            else 0
        end as rule_class,
        greatest(heating_failure_severity, humidity_anomaly_severity, fridge_failure_severity,
                 door_at_night_severity, fire_severity) as rule_severity
    from severities

)

select * from classified
{% if is_incremental() %}
where step_at >= {{ recompute_from() }}
{% endif %}
