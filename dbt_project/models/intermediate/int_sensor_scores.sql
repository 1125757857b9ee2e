{{ config(partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- The calibrated generic score per household, continuous sensor and step. Each channel's z
-- (int_sensor_deviations) becomes a tail probability p: the share of the series' own steps
-- over its recent past (score_history_days, ending score_lag_hours earlier) whose evidence was
-- at least as strong, read off the ladder counts of int_sensor_score_hours and interpolated
-- log-linearly between rungs. A reference tail, a * exp(-|z| / b) per channel, weighs
-- score_prior_days of steps: it gives a series of a few hours a score, and extrapolates past
-- the strongest evidence the history holds; with weeks of history the series' own tail rules.
--   anomaly_p      the four anomaly channels' smallest p, times 4 (so one threshold means the
--                  same with one channel or four); anomaly_score = 1 - anomaly_p
--   health_p       the spike channel's p, 0 while the sensor is stuck; health_score = 1 - health_p
-- A score of 0.9999 says: in this series' recent past, about one step in 10,000 had evidence
-- this strong. One threshold (incident_alert_p) serves every series and household.
-- Below a one-minute step the hours, the history, the lag and the reference tail's days are the
-- score's (macros/score_time.sql: a step stands for a minute; on a 1-second grid the history is
-- 28 x 24 minutes, the lag 12 minutes, the calibration buckets 60 steps, the prior 1,440 steps).

{%- set channels = var('score_priors').keys() | list %}
{%- set anomaly_channels = ['level', 'sustained', 'range', 'hold'] %}
{%- set ladder = var('score_ladder') %}
{%- set prior_steps = score_steps(var('score_prior_days') * 1440) %}
{%- set lag = score_interval(var('score_lag_hours'), 'hours') %}
{%- set history = score_interval(var('score_history_days'), 'days') %}

{#- tails[c][i]: the tail share at rung i of channel c, history and reference together -#}
{%- set tails = {} %}
{%- for c in channels %}
{%- set shares = [] %}
{%- for rung in ladder %}
{%- do shares.append('((calibration.' ~ c ~ '_' ~ loop.index0 ~ ' + ' ~ prior_steps ~ ' * ' ~ var('score_priors')[c][0]
                     ~ ' * exp(-' ~ xdb_double(rung) ~ ' / ' ~ xdb_double(var('score_priors')[c][1]) ~ ')) / (calibration.n_' ~ c ~ ' + ' ~ prior_steps ~ '))') %}
{%- endfor %}
{%- do tails.update({c: shares}) %}
{%- endfor %}

with

deviations as (

    select * from {{ ref('int_sensor_deviations') }}
    {% if is_incremental() %}
    where step_at >= {{ recompute_from() }}
    {% endif %}

),

hours as (

    select * from {{ ref('int_sensor_score_hours') }}
    {% if is_incremental() %}
    where hour_at >= {{ score_bucket(recompute_from()) }} - {{ history }} - {{ lag }}
    {% endif %}

),

{%- set counts = [] %}
{%- for c in channels %}
{%- do counts.append('n_' ~ c) %}
{%- for rung in ladder %}
{%- do counts.append(c ~ '_' ~ loop.index0) %}
{%- endfor %}
{%- endfor %}

-- running: each count summed from the series' first hour read; calibration: each hour's recent
-- past, the counts over the hours from score_history_days before it to score_lag_hours before it
-- (both included), as a difference of two running sums (macros/score_calibration.sql)
{{ score_calibration(counts, lag, history) }},

log_tails as (

    -- the log of each rung's tail share, once per hour (not once per step: a step only
    -- interpolates between two of them)
    select
        household_id,
        sensor,
        hour_at,
        {{ xdb_cast('n_level', 'bigint') }} as history_steps,
        {%- set columns = [] %}
        {%- for c in channels %}
        {%- for i in range(ladder | length) %}
        {%- do columns.append('ln(' ~ tails[c][i] ~ ') as lt_' ~ c ~ '_' ~ i) %}
        {%- endfor %}
        {%- endfor %}
        {{ columns | join(',\n        ') }}
    from calibration
    {% if is_incremental() %}
    where hour_at >= {{ score_bucket(recompute_from()) }}
    {% endif %}

),

calibrated as (

    select
        deviations.*,
        log_tails.history_steps,
        {%- for c in channels %}
        {%- set z = 'abs(deviations.z_' ~ c ~ ')' %}
        case
            when deviations.z_{{ c }} is null then null
            when {{ z }} < {{ ladder[0] }} then 1.0
            {%- for i in range(ladder | length - 1) %}
            when {{ z }} < {{ ladder[i + 1] }} then exp(log_tails.lt_{{ c }}_{{ i }}
                + ({{ z }} - {{ ladder[i] }}) / {{ ladder[i + 1] - ladder[i] }} * (log_tails.lt_{{ c }}_{{ i + 1 }} - log_tails.lt_{{ c }}_{{ i }}))
            {%- endfor %}
            else exp(log_tails.lt_{{ c }}_{{ ladder | length - 1 }} - ({{ z }} - {{ ladder[-1] }}) / {{ var('score_priors')[c][1] }})
        end as p_{{ c }}{{ "," if not loop.last }}
        {%- endfor %}
    from deviations
    inner join log_tails
        on deviations.household_id = log_tails.household_id
        and deviations.sensor = log_tails.sensor
        and {{ score_bucket('deviations.step_at') }} = log_tails.hour_at

),

combined as (

    select
        *,
        least(1.0, {{ anomaly_channels | length }} * least(
            {%- for c in anomaly_channels %} coalesce(p_{{ c }}, 1.0){{ "," if not loop.last }}{% endfor %})) as anomaly_p,
        case when is_stuck then 0.0 else least(1.0, coalesce(p_spike, 1.0)) end as health_p
    from calibrated

),

final as (

    select
        household_id,
        sensor,
        step_at,
        value,
        expected_value,
        expected_spread,
        baseline_weight,
        history_steps,
        z_spike, z_level, z_sustained, z_range, z_hold,
        p_spike, p_level, p_sustained, p_range, p_hold,
        anomaly_p,
        health_p,
        1.0 - anomaly_p as anomaly_score,
        1.0 - health_p as health_score,
        -- the channel with the smallest p (the first of the list on a tie)
        case
            when anomaly_p >= 1.0 then null
            {%- for c in anomaly_channels[:-1] %}
            {%- set others = [] %}
            {%- for o in anomaly_channels[loop.index:] %}{% do others.append('coalesce(p_' ~ o ~ ', 1.0)') %}{% endfor %}
            when coalesce(p_{{ c }}, 1.0) <= {{ xdb_least(others) }} then '{{ c }}'
            {%- endfor %}
            else '{{ anomaly_channels[-1] }}'
        end as anomaly_channel,
        case when is_stuck then 'stuck' when health_p < 1.0 then 'spike' end as health_kind,
        is_stuck,
        minutes_since_change,
        stuck_limit_minutes
    from combined

)

select *{{ xdb_partition_day('step_at') }} from final
