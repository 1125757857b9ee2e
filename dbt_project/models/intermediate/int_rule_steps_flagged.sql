{{ config(replace_from='build_window', partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Every step where a domain rule fired, one row per household, step, rule and sensor, with its
-- anomaly class, severity and evidence. (The generic layer's incidents come from the
-- calibrated score instead: int_sensor_incident_steps and int_sensor_incidents.) A small table (flagged steps only) that anomaly events are
-- merged from, so that merging does not rescan every step of every sensor.

with

rules as (

    select * from {{ ref('int_household_rules_flagged') }}
    where rule_class > 0
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
        '{{ sensors.split("'")[1] }}' as sensor, {{ xdb_list_literal(sensors) }} as sensors,
        {{ rule }}_severity as severity, {{ observed }} as observed_value, {{ expected }} as expected_value
    from rules
    where is_{{ rule }}
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

all_steps as (

    select * from domain_steps

)

select *{{ xdb_partition_day('step_at') }} from all_steps
