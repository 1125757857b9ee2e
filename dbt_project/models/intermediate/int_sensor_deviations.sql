{{ config(partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- The evidence the calibrated generic score weighs, per household, continuous sensor and step,
-- as four z values (departures in the series' own units of spread):
--   z_spike      an isolated one-step excursion: away from both neighbours, in robust scales
--   z_level      the last hour's mean against what is expected now: the hour-of-day baseline
--                blended with the trailing 24 h by how many days of that hour it has learned
--                (n / (n + baseline_blend_days)), so a new series has a score from its first hours
--   z_sustained  z_level averaged over score_sustained_hours (slow drifts, a failing heater)
--   z_hold       how far z_level has stayed on one side for all of score_hold_hours: the
--                smallest |z_level| of those steps, with their sign (0 if it changed sides, null
--                until the window is full). A departure that persists without the decay a
--                shower or a cooking spell shows (a leak, a shifted sensor)
--   z_range      how far the last hour's mean lies outside the series' recent range, in spreads
--                (once range_min_days of history hold it: a day's range says little)
-- and whether the value has been unchanged for far longer than its own history says it is
-- at this hour (is_stuck). int_sensor_scores turns the z values into tail probabilities.
-- Below a one-minute step the windows count steps (macros/score_time.sql: a step stands for a
-- minute, so on a 1-second grid the "hour" is 60 steps and the "24 h" 1,440) and the trailing
-- expectation is robust and leaves the short window out: the median of the long window's steps
-- before the last short window, in 1.4826 times their MAD (floored), once they are at least a
-- short window of steps. A 1-second series has no day of history to absorb a shift, and a mean
-- and std over the shift itself would hide it within a minute.

{%- set sub_minute = score_sub_minute() | trim == 'True' %}
{%- set part = "partition by household_id, sensor order by step_at" %}
{%- if sub_minute %}
{%- set short_steps = score_steps(60 * var('rolling_short_hours')) | int %}
{%- set long_steps = score_steps(60 * var('rolling_long_hours')) | int %}
{%- set lookback = score_interval([var('score_sustained_hours'), var('score_hold_hours')] | max + var('rolling_long_hours'), 'hours') %}
{#- the short window's mean, the trailing centre and spread: computed here on the score's scale -#}
{%- set level_mean = 'level_mean' %}
{%- set trailing_centre = 'trailing_centre' %}
{%- set trailing_spread = 'trailing_spread' %}
{%- else %}
{%- set lookback = xdb_interval([var('score_sustained_hours'), var('score_hold_hours')] | max, 'hours') %}
{#- the rolling features' 1 h mean and 24 h mean and std -#}
{%- set level_mean = 'mean_1h' %}
{%- set trailing_centre = 'mean_24h' %}
{%- set trailing_spread = 'std_24h' %}
{%- endif %}
{%- set hold_steps = score_steps(var('score_hold_hours') * 60) | int %}

with

features as (

    select * from {{ ref('int_sensor_features_rolled') }}
    where sensor_kind = 'continuous'
    {% if is_incremental() %}
    and step_at >= {{ recompute_from() }} - {{ lookback }}
    {% endif %}

),

{%- if sub_minute %}

features_scaled as (

    select
        *,
        avg(value) over short_window as level_mean,
        {{ xdb_median('value', over='before_short') }} as trailing_centre,
        1.4826 * {{ xdb_mad('value', over='before_short') }} as trailing_spread,
        count(value) over before_short as trailing_n
    from features
    window
        short_window as ({{ part }} rows between {{ short_steps - 1 }} preceding and current row),
        before_short as ({{ part }} rows between {{ long_steps - 1 }} preceding and {{ short_steps }} preceding)

),
{%- endif %}

baselines as (

    select * from {{ ref('int_baselines_hour_of_day') }}
    {% if is_incremental() %}
    where baseline_date >= {{ xdb_cast('(' ~ recompute_from() ~ ' - ' ~ lookback ~ ')', 'date') }}
    {% endif %}

),

ranges as (

    select * from {{ ref('int_sensor_ranges') }}
    {% if is_incremental() %}
    where hour_at >= date_trunc('hour', {{ recompute_from() }} - {{ lookback }})
    {% endif %}

),

sensor_types as (

    select * from {{ ref('sensor_types') }}

),

features_joined as (

    select
        features.*,
        coalesce(baselines.n_days, 0) as baseline_days,
        baselines.learned_mean,
        baselines.learned_spread,
        ranges.n_past_hours,
        ranges.range_low,
        ranges.range_high,
        ranges.range_spread,
        ranges.past_max_unchanged_minutes,
        ranges.past_max_unchanged_any_hour_minutes,
        {{ scale_floor('sensor_types.typical_level', 'features.mean_24h') }} as spread_floor,
        {{ robust_scale('features.robust_std_3h', 'features.std_24h', 'sensor_types.typical_level', 'features.mean_24h') }}
            as robust_scale
    from {{ 'features_scaled as features' if sub_minute else 'features' }}
    left join baselines
        on features.household_id = baselines.household_id
        and features.sensor = baselines.sensor
        and {{ xdb_cast('features.step_at', 'date') }} = baselines.baseline_date
        and hour(features.step_at) = baselines.hour_of_day
    left join ranges
        on features.household_id = ranges.household_id
        and features.sensor = ranges.sensor
        and date_trunc('hour', features.step_at) = ranges.hour_at
    left join sensor_types on features.sensor = sensor_types.sensor

),

expected as (

    select
        *,
        case when learned_mean is null then 0.0
             else baseline_days / (baseline_days + {{ var('baseline_blend_days') }}) end as baseline_weight
    from features_joined

),

blended as (

    select
        *,
        baseline_weight * coalesce(learned_mean, 0) + (1 - baseline_weight) * {{ trailing_centre }} as expected_value,
        baseline_weight * coalesce(learned_spread, 0)
            + (1 - baseline_weight) * greatest(coalesce({{ trailing_spread }}, 0), spread_floor) as expected_spread
    from expected

),

deviations as (

    select
        *,
        case
            when value is null or lag_1 is null or lead_1 is null then null
            when sign(value - lag_1) = sign(value - lead_1)
                then least(abs(value - lag_1), abs(value - lead_1)) / robust_scale
            else 0.0
        end as z_spike,
        {%- if sub_minute %}
        case when trailing_n >= {{ short_steps }}
             then ({{ level_mean }} - expected_value) / greatest(expected_spread, spread_floor) end as z_level,
        {%- else %}
        (mean_1h - expected_value) / greatest(expected_spread, spread_floor) as z_level,
        {%- endif %}
        case
            when mean_1h is null or n_past_hours is null or n_past_hours < {{ var('range_min_days') * 24 }} then null
            when mean_1h < range_low then (mean_1h - range_low) / greatest(range_spread, spread_floor)
            when mean_1h > range_high then (mean_1h - range_high) / greatest(range_spread, spread_floor)
            else 0.0
        end as z_range
    from blended

),

sustained as (

    select
        *,
        -- stuck: unchanged for stuck_history_factor times the longest run the same hour has
        -- shown (and at least twice stuck_minutes), and for stuck_any_hour_factor times the
        -- longest run at any hour; while a series has less than a week of history, for at
        -- least stuck_default_hours too (a few days understate how long a value can rest)
        greatest(
            {{ var('stuck_history_factor') }}
                * greatest(coalesce(past_max_unchanged_minutes, 0), {{ var('stuck_minutes') }}),
            {{ var('stuck_any_hour_factor') }} * coalesce(past_max_unchanged_any_hour_minutes, 0),
            case when coalesce(n_past_hours, 0) < 7 * 24 then {{ var('stuck_default_hours') * 60 }} else 0 end
        ) as stuck_limit_minutes,
        avg(z_level) over (
            {{ part }} rows between {{ score_steps(var('score_sustained_hours') * 60) | int - 1 }} preceding and current row
        ) as z_sustained,
        count(z_level) over hold as hold_n,
        min(z_level) over hold as hold_min,
        max(z_level) over hold as hold_max
    from deviations
    window hold as ({{ part }} rows between {{ hold_steps - 1 }} preceding and current row)

),

final as (

    select
        household_id,
        sensor,
        step_at,
        value,
        is_missing,
        is_filled,
        expected_value,
        expected_spread,
        baseline_weight,
        z_spike,
        z_level,
        z_sustained,
        z_range,
        case
            when hold_n < {{ hold_steps }} then null
            when hold_min > 0 then hold_min
            when hold_max < 0 then hold_max
            else 0.0
        end as z_hold,
        minutes_since_change,
        stuck_limit_minutes,
        value is not null and not is_filled and minutes_since_change >= stuck_limit_minutes
            as is_stuck
    from sustained

)

select *{{ xdb_partition_day('step_at') }} from final
{% if is_incremental() %}
where step_at >= {{ recompute_from() }}
{% endif %}
