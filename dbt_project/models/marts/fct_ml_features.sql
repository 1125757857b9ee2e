{{ config(materialized='incremental', incremental_strategy='replace_window', on_schema_change='fail',
          partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- The classifier's input: one row per household per step with a fixed column order
-- (documented in _marts__models.yml; the model's metadata records it). Continuous sensors
-- are normalised by the household's own hour-of-day baseline, (x - expected) / spread, so
-- homes with different set-points look alike; binary sensors stay 0/1; the raw levels
-- (fridge watts, humidity, temperature) come too, scaled near 1. No nulls: a value
-- that cannot be known (a gap, the warm-up) is 0 and its *_missing flag says so.
-- <s>_available says whether the home has the sensor at all (1 from its first reading on):
-- a sensor the home never had reads as 0 with *_missing = 1 on every step, a dropout of a
-- sensor it has reads the same but with <s>_available = 1. The classifier never predicts a
-- class whose evidence sensors a home lacks (warehouse/taxonomy.py EVIDENCE_SENSORS).

{%- set continuous = ['temperature', 'humidity', 'fridge_power'] %}
{%- set sensors = var('known_sensors') %}

with

grid as (

    select * from {{ ref('int_household_steps_pivoted') }}
    {% if is_incremental() %}
    where step_at >= {{ recompute_from() }}
    {% endif %}

),

rules as (

    select * from {{ ref('int_household_rules_flagged') }}
    {% if is_incremental() %}
    where step_at >= {{ recompute_from() }}
    {% endif %}

),

sensor_hours as (

    select * from {{ ref('int_sensor_hours') }}

),

sensors_seen as (

    -- each known sensor's first hour with data, per household (hours, not steps: a cheap scan)
    select
        household_id,
        {%- for s in sensors %}
        min(step_date + {{ xdb_hours('hour_of_day') }}) filter (where sensor = '{{ s }}') as {{ s }}_first_seen_at{{ "," if not loop.last }}
        {%- endfor %}
    from sensor_hours
    where sensor in ({% for s in sensors %}'{{ s }}'{{ ", " if not loop.last }}{% endfor %})
    group by household_id

),

features as (

    select
        grid.household_id,
        grid.step_at,
        sin(2 * pi() * (hour(grid.step_at) * 60 + minute(grid.step_at)) / {{ xdb_double('1440.0') }}) as hour_sin,
        cos(2 * pi() * (hour(grid.step_at) * 60 + minute(grid.step_at)) / {{ xdb_double('1440.0') }}) as hour_cos,
        case when {{ xdb_isodow('grid.step_at') }} >= 6 then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end as is_weekend,
        {%- for s in sensors %}
        case when grid.step_at >= date_trunc('hour', sensors_seen.{{ s }}_first_seen_at) then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end
            as {{ s }}_available,
        {%- endfor %}
        {%- for s in continuous %}
        coalesce((grid.{{ s }} - grid.{{ s }}_expected) / grid.{{ s }}_spread, 0) as {{ s }}_z,
        coalesce((grid.{{ s }}_mean_1h - grid.{{ s }}_expected) / grid.{{ s }}_spread, 0) as {{ s }}_mean_1h_z,
        coalesce(grid.{{ s }}_std_1h / grid.{{ s }}_spread, 0) as {{ s }}_std_1h_z,
        coalesce(grid.{{ s }}_delta_1 / grid.{{ s }}_spread, 0) as {{ s }}_delta_z,
        case when grid.{{ s }}_is_missing then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end as {{ s }}_missing,
        case when grid.{{ s }}_expected is null then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end as {{ s }}_no_baseline,
        {%- endfor %}
        coalesce(grid.fridge_power, 0) / 100.0 as fridge_power_w_100,
        coalesce(grid.humidity, 0) / 100.0 as humidity_fraction,
        -- the level itself, not only against the baseline: a home that is new (no baseline
        -- yet) or whose baseline has learned a long failure still shows a cold room
        coalesce(grid.temperature, 0) / 10.0 as temperature_c_10,
        -- the season: the room's and (where the home has the sensor) the outside's last 24 h.
        -- The model's window is an hour; a heating failure and heating switched off for the
        -- season both read as a cool room within it
        coalesce(rules.temperature_mean_24h, 0) / 10.0 as temperature_mean_24h_c_10,
        coalesce(rules.outdoor_mean_24h, 0) / 10.0 as outdoor_temperature_mean_24h_c_10,
        -- ...and what an hour cannot show: how long the room has been cold (more than
        -- heating_below_c under its baseline; days, within heating_memory_hours) and whether a
        -- failure's fall began that cold spell. Late in a long failure the hour looks like a
        -- room cool for the season; these still tell them apart
        rules.temperature_cold_minutes / {{ xdb_double('1440.0') }} as temperature_cold_days,
        case when rules.is_cold_since_fall then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end as temperature_cold_since_fall,
        -- a humid spell the bathroom's warming confirms as a shower (homes with a bathroom
        -- temperature sensor; the humidity rule's evidence)
        case when rules.is_shower_warmed then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end as bathroom_temperature_shower_warmed,
        -- watts span orders of magnitude: on a log scale an idle draw of 2 W stands apart from
        -- the 0 W of a power cut, which W / 100 squeezes together
        ln(1 + greatest(coalesce(grid.fridge_power, 0), 0)) as fridge_power_log_w,
        -- each sensor's own health: a fridge meter stuck at its idle draw looks like a failed
        -- compressor by level alone; a stuck value does not change, a failing fridge's does
        {%- for s in continuous %}
        grid.{{ s }}_health_score as {{ s }}_health,
        coalesce(grid.{{ s }}_minutes_since_change, 0) / {{ xdb_double('1440.0') }} as {{ s }}_days_since_change,
        {%- endfor %}
        {%- for s in ['motion', 'door', 'fire_alarm'] %}
        coalesce(grid.{{ s }}, 0) as {{ s }},
        coalesce(grid.{{ s }}_mean_1h, 0) as {{ s }}_mean_1h,
        case when grid.{{ s }}_is_missing then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end as {{ s }}_missing,
        {%- endfor %}
        coalesce(grid.motion_expected_mean, 0) as motion_expected_rate,
        coalesce(grid.motion_minutes_since_change, 0) / {{ xdb_double('1440.0') }} as motion_days_since_change,
        coalesce(grid.door_minutes_since_change, 0) / {{ xdb_double('1440.0') }} as door_days_since_change,
        coalesce(grid.humidity_high_share, 0) as humidity_high_share,
        rules.humidity_high_minutes / {{ xdb_double('1440.0') }} as humidity_high_days,
        rules.fridge_off_minutes / {{ xdb_double('1440.0') }} as fridge_off_days,
        rules.heating_failure_severity,
        rules.humidity_anomaly_severity,
        rules.fridge_failure_severity,
        rules.door_at_night_severity,
        rules.fire_severity,
        greatest(grid.temperature_anomaly_score, grid.humidity_anomaly_score, grid.fridge_power_anomaly_score)
            as generic_anomaly_score,
        greatest(grid.temperature_health_score, grid.humidity_health_score, grid.fridge_power_health_score)
            as generic_health_score,
        rules.rule_class
    from grid
    inner join rules on grid.household_id = rules.household_id and grid.step_at = rules.step_at
    left join sensors_seen on grid.household_id = sensors_seen.household_id

)

select *{{ xdb_partition_day('step_at') }} from features
