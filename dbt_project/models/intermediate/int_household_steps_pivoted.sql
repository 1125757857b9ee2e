-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- The regular grid per household: one row per household per step, one group of columns
-- per known sensor (var known_sensors): its value (short gaps filled), whether it was
-- missing or filled, its hour-of-day expectation and spread, its generic scores, and the
-- rolling features the domain rules and the classifier read.

{%- set sensors = var('known_sensors') %}

with

flags as (

    select * from {{ ref('int_sensor_steps_flagged') }}
    where sensor in ({% for s in sensors %}'{{ s }}'{{ ", " if not loop.last }}{% endfor %})
    {% if is_incremental() %}
    and step_at >= {{ recompute_from() }}
    {% endif %}

),

pivoted as (

    select
        household_id,
        step_at,
        {%- for s in sensors %}
        any_value(value) filter (where sensor = '{{ s }}') as {{ s }},
        coalesce(bool_or(is_missing) filter (where sensor = '{{ s }}'), true) as {{ s }}_is_missing,
        coalesce(bool_or(is_filled) filter (where sensor = '{{ s }}'), false) as {{ s }}_is_filled,
        any_value(expected_value) filter (where sensor = '{{ s }}') as {{ s }}_expected,
        any_value(expected_mean) filter (where sensor = '{{ s }}') as {{ s }}_expected_mean,
        any_value(spread) filter (where sensor = '{{ s }}') as {{ s }}_spread,
        any_value(mean_1h) filter (where sensor = '{{ s }}') as {{ s }}_mean_1h,
        any_value(std_1h) filter (where sensor = '{{ s }}') as {{ s }}_std_1h,
        any_value(delta_1) filter (where sensor = '{{ s }}') as {{ s }}_delta_1,
        any_value(minutes_since_change) filter (where sensor = '{{ s }}') as {{ s }}_minutes_since_change,
        any_value(max_deviation_sustained) filter (where sensor = '{{ s }}') as {{ s }}_max_deviation_sustained,
        any_value(high_share) filter (where sensor = '{{ s }}') as {{ s }}_high_share,
        coalesce(any_value(anomaly_score) filter (where sensor = '{{ s }}'), 0) as {{ s }}_anomaly_score,
        coalesce(any_value(health_score) filter (where sensor = '{{ s }}'), 0) as {{ s }}_health_score
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from flags
    group by household_id, step_at

)

select * from pivoted
