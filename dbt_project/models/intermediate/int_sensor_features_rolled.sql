{{ config(partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Rolling features per household, sensor and step, for any sensor: the mean over the short
-- window (1 h) and how long the value has held. For continuous sensors also the spread over it,
-- means over the medium (3 h) and long (24 h) windows, spread over the long one; step-to-step
-- changes and lags; a rolling robust centre and spread over the medium window (the median, and
-- the interquartile range or the MAD as a std: robust_std_3h); whether the value has held for
-- stuck_minutes. The windows are vars (rolling_*_hours); the columns keep their default names
-- (mean_1h, mean_3h, mean_24h).

{{- check_rolling_windows() }}
{%- set part = "partition by household_id, sensor order by step_at" %}
{%- set stuck_steps = steps(var('stuck_minutes')) | int %}
{#- held for stuck_steps steps: the last change at least stuck_steps - 1 steps back -#}
{%- set held_seconds = ((stuck_steps - 1) * (grid_step_seconds() | trim | float)) | int %}
{%- set short_steps = steps(60 * var('rolling_short_hours')) | int %}
{%- set medium_steps = steps(60 * var('rolling_medium_hours')) | int %}
{%- set long_steps = steps(60 * var('rolling_long_hours')) | int %}
{#- The robust spread: the interquartile range where the medium window holds enough steps (one
    quantile window gives the median and both quartiles: about 25 CPU s less than a rolling MAD
    at the default scale), the MAD below (the IQR breaks down at a quarter of the window, the MAD
    at half: on an hourly grid a 3-step window's IQR is widened by one spike). -#}
{%- set use_iqr = medium_steps >= var('robust_iqr_min_steps') | int %}

with

grid as {{ cte_inline() }} (

    select * from {{ ref('int_readings_gridded') }}
    {{ recompute_filter(context=true) }}

),

{%- for kind in ['continuous', 'binary'] %}

{{ kind }}_steps_compared as (

    -- split by kind before any window, so each window runs once over its own rows
    select
        *,
        {%- if kind == 'continuous' %}
        value - lag(value) over ({{ part }}) as delta_1,
        lag(value) over ({{ part }}) as lag_1,
        lead(value) over ({{ part }}) as lead_1,
        {%- else %}
        {{ xdb_cast('null', 'double') }} as delta_1,
        {{ xdb_cast('null', 'double') }} as lag_1,
        {{ xdb_cast('null', 'double') }} as lead_1,
        {%- endif %}
        case when value is distinct from lag(value) over ({{ part }}) then step_at end as changed_at
    from grid
    where sensor_kind = '{{ kind }}'

),

{{ kind }}_rolled as (

    -- The grid is regular (one row per step), so ROWS frames of N steps are exactly N * step
    -- and about twice as fast as RANGE frames.
    -- Binary sensors (door, motion, alarm: 40% of the rows) get the activity features their
    -- rules and the classifier use (the last hour's share of active steps, how long the state
    -- has held); the step changes, the longer means and the spread and robust-centre windows,
    -- which only continuous signals' flags and scores read, are null for them and cost nothing
    -- (57 s alone against 62 s at the default scale, two runs each).
    select
        *,
        avg(value) over w_1h as mean_1h,
        {%- if kind == 'continuous' %}
        avg(value) over w_3h as mean_3h,
        avg(value) over w_24h as mean_24h,
        -- the 3-hour mean three hours earlier (a frame, not a lag of mean_3h: one window pass fewer)
        avg(value) over w_3h_before as mean_3h_before,
        stddev_samp(value) over w_1h as std_1h,
        stddev_samp(value) over w_24h as std_24h,
        {%- if use_iqr %}
        {{ xdb_quantiles('value', '0.25, 0.5, 0.75', over='w_3h') }} as quartiles_3h,
        {%- else %}
        {{ xdb_median('value', over='w_3h') }} as median_3h,
        {{ xdb_mad('value', over='w_3h') }} as mad_3h,
        {%- endif %}
        stddev_samp(delta_1) over w_1h as delta_std_1h,
        stddev_samp(delta_1) over w_24h as delta_std_24h,
        {%- else %}
        {{ xdb_cast('null', 'double') }} as mean_3h,
        {{ xdb_cast('null', 'double') }} as mean_24h,
        {{ xdb_cast('null', 'double') }} as mean_3h_before,
        {{ xdb_cast('null', 'double') }} as std_1h,
        {{ xdb_cast('null', 'double') }} as std_24h,
        {%- if use_iqr %}
        {{ xdb_cast('null', 'double[]') }} as quartiles_3h,
        {%- else %}
        {{ xdb_cast('null', 'double') }} as median_3h,
        {{ xdb_cast('null', 'double') }} as mad_3h,
        {%- endif %}
        {{ xdb_cast('null', 'double') }} as delta_std_1h,
        {{ xdb_cast('null', 'double') }} as delta_std_24h,
        {%- endif %}
        max(changed_at) over w_history as last_change_at
    from {{ kind }}_steps_compared
    window
        w_1h as ({{ part }} rows between {{ short_steps - 1 }} preceding and current row),
        w_3h as ({{ part }} rows between {{ medium_steps - 1 }} preceding and current row),
        w_3h_before as ({{ part }} rows between {{ 2 * medium_steps - 1 }} preceding
                        and {{ medium_steps }} preceding),
        w_24h as ({{ part }} rows between {{ long_steps - 1 }} preceding and current row),
        w_history as ({{ part }} rows between unbounded preceding and current row)

),
{%- endfor %}

rolled as (

    select * from continuous_rolled
    {{ xdb_union_all_by_name() }}
    select * from binary_rolled

),

features as (

    select
        household_id,
        sensor,
        sensor_kind,
        step_at,
        value,
        observed_value,
        is_missing,
        is_filled,
        minutes_since_reading,
        delta_1,
        lag_1,
        lead_1,
        mean_1h, std_1h,
        mean_3h,
        mean_24h, std_24h,
        {%- if use_iqr %}
        {{ xdb_list_element('quartiles_3h', 2) }} as median_3h,
        ({{ xdb_list_element('quartiles_3h', 3) }} - {{ xdb_list_element('quartiles_3h', 1) }}) / 1.349 as robust_std_3h,
        {%- else %}
        median_3h,
        1.4826 * mad_3h as robust_std_3h,
        {%- endif %}
        delta_std_1h, delta_std_24h,
        mean_3h_before,
        -- a continuous sensor whose last stuck_minutes of steps all held one value (read from the
        -- last change, which is exact on the regular grid: a null step is a change; a window's
        -- max, min and count cost about 14 CPU seconds more at the default scale)
        coalesce(sensor_kind = 'continuous' and value is not null
                 and last_change_at <= step_at - {{ xdb_interval(held_seconds, 'seconds') }}, false) as is_flat,
        -- capped at the context window, which is all an incremental build can see
        least(coalesce({{ xdb_date_diff('minute', 'last_change_at', 'step_at') }}, {{ var('context_hours') }} * 60),
              {{ var('context_hours') }} * 60) as minutes_since_change
    from rolled

)

select *{{ xdb_partition_day('step_at') }} from features
{{ recompute_filter() }}
