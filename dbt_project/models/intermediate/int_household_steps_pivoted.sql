{{ config(partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- The regular grid per household: one row per household per step, one group of columns
-- per known sensor (var known_sensors): its value (short gaps filled), whether it was
-- missing or filled, its hour-of-day expectation and spread, its generic scores, and the
-- rolling features the domain rules and the classifier read.

{%- set sensors = var('known_sensors') %}

with

flags as {{ cte_inline() }} (

    select * from {{ ref('int_sensor_steps_flagged') }}
    where sensor in ({% for s in sensors %}'{{ s }}'{{ ", " if not loop.last }}{% endfor %})
    {{ recompute_filter(keyword='and') }}

),

household_steps as (

    select distinct household_id, step_at from flags

),

{%- set columns = ['expected', 'expected_mean', 'spread', 'mean_1h', 'std_1h', 'delta_1', 'minutes_since_change',
                   'max_deviation_sustained', 'high_share', 'anomaly_score', 'health_score'] %}
{%- set sources = {'expected': 'expected_value'} %}

{%- for s in sensors %}

{{ s }}_steps as (

    -- one sensor's columns, filtered once; joining these is far cheaper than a pivot of
    -- filtered aggregates over every row
    select
        household_id,
        step_at,
        value as {{ s }},
        is_missing as {{ s }}_is_missing,
        is_filled as {{ s }}_is_filled,
        {%- for c in columns %}
        {{ sources.get(c, c) }} as {{ s }}_{{ c }}{{ "," if not loop.last }}
        {%- endfor %}
    from flags
    where sensor = '{{ s }}'

),
{%- endfor %}

pivoted as (

    select
        household_steps.household_id,
        household_steps.step_at,
        {%- for s in sensors %}
        {%- set last_sensor = loop.last %}
        {{ s }}_steps.{{ s }},
        coalesce({{ s }}_steps.{{ s }}_is_missing, true) as {{ s }}_is_missing,
        coalesce({{ s }}_steps.{{ s }}_is_filled, false) as {{ s }}_is_filled,
        {%- for c in columns %}
        {%- if c in ('anomaly_score', 'health_score') %}
        coalesce({{ s }}_steps.{{ s }}_{{ c }}, 0) as {{ s }}_{{ c }}{{ "," if not (loop.last and last_sensor) }}
        {%- else %}
        {{ s }}_steps.{{ s }}_{{ c }},
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
    from household_steps
    {%- for s in sensors %}
    left join {{ s }}_steps
        on household_steps.household_id = {{ s }}_steps.household_id
        and household_steps.step_at = {{ s }}_steps.step_at
    {%- endfor %}

)

select *{{ xdb_partition_day('step_at') }} from pivoted
