{{ config(replace_from='build_window') }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Every step where a rule fired, one row per household, step, rule and sensor: the domain
-- rules (with their anomaly class) and the generic flags (sensor anomalies and sensor health),
-- with severity and evidence. A small table (flagged steps only) that anomaly events are
-- merged from, so that merging does not rescan every step of every sensor.

with

rules as (

    select * from {{ ref('int_household_rules_flagged') }}
    where rule_class > 0
    {% if is_incremental() %}
    and step_at >= {{ recompute_from() }}
    {% endif %}

),

flags as (

    select * from {{ ref('int_sensor_steps_flagged') }}
    where (anomaly_score > 0 or health_score > 0)
    {% if is_incremental() %}
    and step_at >= {{ recompute_from() }}
    {% endif %}

),

{%- set domain = [
    ('heating_failure', 1, "['temperature']", 'temperature', 'temperature_expected'),
    ('humidity_anomaly', 2, "['humidity']", 'humidity', 'humidity_expected'),
    ('fridge_failure', 3, "['fridge_power']", 'fridge_power', 'fridge_power_expected_mean'),
    ('door_at_night', 4, "['door', 'motion']", 'door', 'motion_expected_mean'),
    ('fire', 5, "['fire_alarm', 'temperature', 'humidity']", 'fire_alarm', '0.0'),
] %}

domain_steps as (

    {%- for rule, cls, sensors, observed, expected in domain %}
    select
        household_id, step_at, 'anomaly' as event_kind, '{{ rule }}' as rule_name, {{ cls }} as anomaly_class,
        '{{ sensors.split("'")[1] }}' as sensor, {{ sensors }} as sensors,
        {{ rule }}_severity as severity, {{ observed }} as observed_value, {{ expected }} as expected_value
    from rules
    where is_{{ rule }}
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

{%- set generic = [
    ('point', 'sensor_anomaly'), ('contextual', 'sensor_anomaly'), ('collective', 'sensor_anomaly'),
    ('level_shift', 'sensor_anomaly'), ('stuck', 'sensor_health'), ('dropout', 'sensor_health'),
    ('spike', 'sensor_health'), ('noise', 'sensor_health'), ('drift', 'sensor_health'),
] %}

generic_steps as (

    {%- for flag, kind in generic %}
    select
        household_id, step_at, '{{ kind }}' as event_kind, '{{ flag }}' as rule_name, 0 as anomaly_class,
        sensor, [sensor] as sensors,
        {{ flag }}_severity as severity, value as observed_value, expected_value
    from flags
    where {{ flag }}_severity > 0
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

all_steps as (

    select * from domain_steps
    union all
    select * from generic_steps

)

select * from all_steps
