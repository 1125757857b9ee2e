{{ config(partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- The regular grid per household: one row per household per step, one group of columns
-- per known sensor (var known_sensors): its value (short gaps filled), whether it was
-- missing, and what the domain rules (int_household_rules_flagged, the shower patterns) and
-- the classifier (fct_ml_features) read of its hour-of-day baseline, rolling features and
-- generic flags (macros/generic_flags.sql).
-- Each sensor's flags are computed here, from the rolling features and baselines, one sensor
-- at a time: a table of every sensor-step's 30 flag columns, written and read back for the
-- few this pivot carries, took 41 s of a 343 s full build and this model 34 s more, at the
-- default scale; computed here, the pivot took 35-38 s (docs/dbt.md, "What a build costs"), and
-- 19-24 s since the sensors are joined in stages (below).

{%- set sensors = var('known_sensors') %}
{#- The columns each sensor's readers use (the names its group takes: <sensor>_<column>; value is
    <sensor>). A known sensor not listed here gets every column. -#}
{%- set every_column = ['value', 'is_missing', 'is_filled', 'expected', 'expected_mean', 'spread', 'mean_1h',
                        'std_1h', 'delta_1', 'minutes_since_change', 'max_deviation_sustained', 'high_share',
                        'anomaly_score', 'health_score'] %}
{%- set scored = ['value', 'is_missing', 'expected', 'spread', 'mean_1h', 'std_1h', 'delta_1',
                  'minutes_since_change', 'anomaly_score', 'health_score'] %}
{%- set read_columns = {
    'temperature': scored + ['max_deviation_sustained'],
    'humidity': scored + ['high_share'],
    'fridge_power': scored + ['expected_mean'],
    'motion': ['value', 'is_missing', 'expected_mean', 'mean_1h', 'minutes_since_change'],
    'door': ['value', 'is_missing', 'mean_1h', 'minutes_since_change'],
    'fire_alarm': ['value', 'is_missing', 'mean_1h'],
    'outdoor_temperature': ['value'],
    'bathroom_temperature': ['value'],
} %}
{%- set sources = {'expected': 'expected_value'} %}
{#- a sensor the home lacks reads as missing, with no generic flag -#}
{%- set absent = {'is_missing': 'true', 'is_filled': 'false', 'anomaly_score': '0', 'health_score': '0'} %}
{#- each sensor's columns, named once: [column, name in the pivot] -#}
{%- set columns_of = {} %}
{%- for s in sensors %}
{%- set named = [] %}
{%- for c in read_columns.get(s, every_column) %}{% do named.append([c, s if c == 'value' else s ~ '_' ~ c]) %}{% endfor %}
{%- do columns_of.update({s: named}) %}
{%- endfor %}

with

household_steps as (

    select distinct household_id, step_at
    from {{ ref('int_sensor_features_rolled') }}
    where sensor in ('{{ sensors | join("', '") }}')
    {{ recompute_filter(keyword='and') }}

),

{%- for s in sensors %}

{{ s }}_steps as (

    -- one sensor's rows, flagged on their own; joining these is far cheaper than a pivot of
    -- filtered aggregates over every row
    select
        household_id,
        step_at,
        {%- for c, name in columns_of[s] %}
        {{ sources.get(c, c) }} as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from ({{ generic_flags(sensors=[s]) }}) as flags
    {{ recompute_filter() }}

),
{%- endfor %}

{#- The sensors' column groups are joined to the household's steps in stages of
    pivot_stage_sensors, each stage's rows stored (cte_materialized) before the next stage
    builds its hash tables: joined all at once, the eight sensors' hash tables are alive
    together and spill (the timings: dbt_project.yml and docs/dbt.md). -#}
{%- set stage_size = var('pivot_stage_sensors') | int %}
{%- if stage_size < 1 %}
    {{ exceptions.raise_compiler_error("pivot_stage_sensors (" ~ stage_size ~ ") must be at least 1") }}
{%- endif %}
{#- The narrowest column groups are joined first: the first stage's rows are stored while the
    next stage's hash tables are built, so the wide groups (the continuous sensors') go last. -#}
{%- set by_width = [] %}
{%- for s in sensors %}{% do by_width.append([columns_of[s] | length, loop.index0, s]) %}{% endfor %}
{%- set join_order = [] %}
{%- for entry in by_width | sort %}{% do join_order.append(entry[2]) %}{% endfor %}
{%- set stages = [] %}
{%- for i in range(0, join_order | length, stage_size) %}{% do stages.append(join_order[i:i + stage_size]) %}{% endfor %}
{%- for stage in stages %}
{%- set previous = 'household_steps' if loop.first else 'stage_' ~ (loop.index - 1) %}

{%- if loop.last %}
pivoted as (
{%- else %}
stage_{{ loop.index }} as {{ cte_materialized() }} (
{%- endif %}

    select
        {%- if loop.first %}
        household_steps.household_id,
        household_steps.step_at,
        {%- else %}
        {{ previous }}.*,
        {%- endif %}
        {%- for s in stage %}
        {%- set last_sensor = loop.last %}
        {%- for c, name in columns_of[s] %}
        {%- if c in absent %}
        coalesce({{ s }}_steps.{{ name }}, {{ absent[c] }}) as {{ name }}{{ "," if not (loop.last and last_sensor) }}
        {%- else %}
        {{ s }}_steps.{{ name }}{{ "," if not (loop.last and last_sensor) }}
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
    from {{ previous }}
    {%- for s in stage %}
    left join {{ s }}_steps
        on {{ previous }}.household_id = {{ s }}_steps.household_id
        and {{ previous }}.step_at = {{ s }}_steps.step_at
    {%- endfor %}

){{ ',' if not loop.last }}
{%- endfor %}

-- the columns in the order of known_sensors, whatever order they were joined in
select
    household_id,
    step_at,
    {%- for s in sensors %}
    {%- set last_sensor = loop.last %}
    {%- for c, name in columns_of[s] %}
    {{ name }}{{ "," if not (loop.last and last_sensor) }}
    {%- endfor %}
    {%- endfor %}
    {{- xdb_partition_day('step_at') }}
from pivoted
