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

{#- Each channel's 13 counts (n and one per rung) travel packed, 8 to a double, 6 bits each: a
    bucket holds at most 60 steps (macros/score_calibration.sql), so each count stays below 64
    and 8 of them below 2^48, where doubles are exact. A step adds to its channel's slots in one
    CASE (each rung implies the ones below it, and every rung implies a z), and the group by
    sums 10 doubles instead of taking 65 filtered counts: the model's SQL alone at the default
    scale, 7.4-7.7 s (14.4-14.9 CPU s) -> 3.6-5.1 s (7.0-7.9), the same rows. -#}
{%- set per_sum = 8 %}
{%- if var('score_ladder') != var('score_ladder') | sort | unique | list %}
    {{ exceptions.raise_compiler_error("score_ladder (" ~ var('score_ladder') ~ ") must rise strictly: each rung's count includes the steps of the rungs above it") }}
{%- endif %}
{#- packs[c]: the channel's packed sums, [name, the conditions of its slots], slot 0 first -#}
{%- set packs = {} %}
{%- for c in channels %}
{%- set conditions = ['z_' ~ c ~ ' is not null'] %}
{%- for rung in var('score_ladder') %}{% do conditions.append('abs(z_' ~ c ~ ') >= ' ~ rung) %}{% endfor %}
{%- set sums = [] %}
{%- for first in range(0, conditions | length, per_sum) %}
{%- do sums.append([c ~ '_packed_' ~ (first // per_sum), conditions[first:first + per_sum]]) %}
{%- endfor %}
{%- do packs.update({c: sums}) %}
{%- endfor %}

stepped as (

    select
        household_id,
        sensor,
        {{ score_bucket('step_at') }} as hour_at,
        {%- set columns = [] %}
        {%- for c in channels %}
        {%- for name, group in packs[c] %}
        {%- set cases = [] %}
        {%- for k in range(group | length - 1, -1, -1) %}
        {%- set ns = namespace(packed=0) %}
        {%- for j in range(k + 1) %}{% set ns.packed = ns.packed + 64 ** j %}{% endfor %}
        {%- do cases.append('when ' ~ group[k] ~ ' then ' ~ xdb_cast(ns.packed, 'double')) %}
        {%- endfor %}
        {%- do columns.append('case ' ~ cases | join(' ') ~ ' else ' ~ xdb_cast(0, 'double') ~ ' end as ' ~ name) %}
        {%- endfor %}
        {%- endfor %}
        {{ columns | join(',\n        ') }}
    from deviations

),

packed as (

    select
        household_id,
        sensor,
        hour_at,
        {%- set columns = [] %}
        {%- for c in channels %}
        {%- for name, group in packs[c] %}
        {%- do columns.append('sum(' ~ name ~ ') as ' ~ name) %}
        {%- endfor %}
        {%- endfor %}
        {{ columns | join(',\n        ') }}
    from stepped
    group by household_id, sensor, hour_at

),

counted as (

    -- slot j of a packed sum S: floor(S / 64^j) - 64 * floor(S / 64^(j + 1)), exact in doubles
    select
        household_id,
        sensor,
        hour_at,
        {%- set columns = [] %}
        {%- for c in channels %}
        {%- set names = ['n_' ~ c] %}
        {%- for rung in var('score_ladder') %}{% do names.append(c ~ '_' ~ loop.index0) %}{% endfor %}
        {%- for name in names %}
        {%- set packed = packs[c][loop.index0 // per_sum][0] %}
        {%- set j = loop.index0 % per_sum %}
        {%- do columns.append(xdb_cast('floor(' ~ packed ~ ' / ' ~ (64 ** j) ~ '.0) - 64 * floor(' ~ packed ~ ' / ' ~ (64 ** (j + 1)) ~ '.0)', 'bigint') ~ ' as ' ~ name) %}
        {%- endfor %}
        {%- endfor %}
        {{ columns | join(',\n        ') }}
    from packed

)

select *{{ xdb_partition_day('hour_at') }} from counted
