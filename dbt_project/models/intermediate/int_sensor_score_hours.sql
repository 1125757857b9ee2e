{{ config(window_column='hour_at', partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- One row per household, continuous sensor and hour: how many of the hour's steps had
-- evidence at least as strong as each rung of score_ladder, per channel of
-- int_sensor_deviations. Summed over a series' recent past, these counts are the empirical
-- tail that int_sensor_scores calibrates each step against. Below a one-minute step the
-- "hour" is the score's (macros/score_time.sql): the bucket of 60 steps a step falls in, whose
-- start is hour_at.

{%- set channels = var('score_priors').keys() | list %}

with

deviations as (

    select * from {{ ref('int_sensor_deviations') }}
    {% if is_incremental() %}
    where step_at >= {{ score_bucket(recompute_from()) }}
    {% endif %}

),

counted as (

    select
        household_id,
        sensor,
        {{ score_bucket('step_at') }} as hour_at,
        {%- set columns = [] %}
        {%- for c in channels %}
        {%- do columns.append('count(z_' ~ c ~ ') as n_' ~ c) %}
        {%- for rung in var('score_ladder') %}
        {%- do columns.append('count(*) filter (where abs(z_' ~ c ~ ') >= ' ~ rung ~ ') as ' ~ c ~ '_' ~ loop.index0) %}
        {%- endfor %}
        {%- endfor %}
        {{ columns | join(',\n        ') }}
    from deviations
    group by household_id, sensor, hour_at

)

select *{{ xdb_partition_day('hour_at') }} from counted
