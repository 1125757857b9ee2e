{{ config(window_column='hour_at', partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- One row per household, sensor and hour: what the series' recent past (score_history_days,
-- ending score_lag_hours before the hour) says is its range, for the calibrated generic score:
-- the range_quantile and 1 - range_quantile quantiles of its hourly medians and their
-- interquartile spread; and, for the stuck rule, the longest the value stayed unchanged in
-- the same hour of day over that past, and at any hour. An incident shorter than the lag cannot widen the
-- range it is judged against. A full build runs window frames over every hour; an incremental
-- one joins each new hour to its past hours (same rows, a cost bounded by the new hours: about a
-- quarter of the frames' CPU time for a day of 100 homes).

{%- set lag = xdb_interval(var('score_lag_hours'), 'hours') %}
{%- set history = xdb_interval(var('score_history_days'), 'days') %}

with

hours as (

    select
        household_id,
        sensor,
        step_date + hour_of_day * {{ xdb_interval(1, 'hour') }} as hour_at,
        hour_of_day,
        hour_median,
        hour_max_unchanged_minutes
    from {{ ref('int_sensor_hours') }}
    where sensor_kind = 'continuous'
    {% if is_incremental() %}
    and step_date >= {{ xdb_cast('(' ~ recompute_from() ~ ' - ' ~ history ~ ' - ' ~ lag ~ ' - ' ~ xdb_interval(1, 'day') ~ ')', 'date') }}
    {% endif %}

),

{%- if is_incremental() %}

new_hours as (

    select * from hours
    where hour_at >= date_trunc('hour', {{ recompute_from() }})

),

ranges as (

    -- an incremental build computes only the new hours: each one's past hours, joined and
    -- aggregated (the same sets as the frames below, so the same values), at a cost that grows
    -- with the new hours, not with the history window the frames would run over
    select
        new_hours.household_id,
        new_hours.sensor,
        new_hours.hour_at,
        count(past.hour_median) as n_past_hours,
        {{ xdb_quantiles('past.hour_median', var('range_quantile') ~ ', 0.25, 0.75, ' ~ (1 - var('range_quantile'))) }}
            as past_quantiles,
        max(past.hour_max_unchanged_minutes) filter (where past.hour_of_day = new_hours.hour_of_day)
            as past_max_unchanged_minutes,
        max(past.hour_max_unchanged_minutes) as past_max_unchanged_any_hour_minutes
    from new_hours
    left join hours as past
        on new_hours.household_id = past.household_id
        and new_hours.sensor = past.sensor
        and past.hour_at between new_hours.hour_at - {{ history }} and new_hours.hour_at - {{ lag }}
    group by new_hours.household_id, new_hours.sensor, new_hours.hour_at

),

{%- else %}

ranges as (

    select
        household_id,
        sensor,
        hour_at,
        count(hour_median) over past as n_past_hours,
        {{ xdb_quantiles('hour_median', var('range_quantile') ~ ', 0.25, 0.75, ' ~ (1 - var('range_quantile')), over='past') }} as past_quantiles,
        max(hour_max_unchanged_minutes) over same_hour_past as past_max_unchanged_minutes,
        max(hour_max_unchanged_minutes) over past as past_max_unchanged_any_hour_minutes
    from hours
    window
        past as (partition by household_id, sensor order by hour_at
                 range between {{ history }} preceding and {{ lag }} preceding),
        same_hour_past as (partition by household_id, sensor, hour_of_day order by hour_at
                           range between {{ history }} preceding and {{ lag }} preceding)

),

{%- endif %}

final as (

    select
        household_id,
        sensor,
        hour_at,
        n_past_hours,
        {{ xdb_list_element('past_quantiles', 1) }} as range_low,
        {{ xdb_list_element('past_quantiles', 4) }} as range_high,
        ({{ xdb_list_element('past_quantiles', 3) }} - {{ xdb_list_element('past_quantiles', 2) }}) / 1.349 as range_spread,
        past_max_unchanged_minutes,
        past_max_unchanged_any_hour_minutes
    from ranges

)

select *{{ xdb_partition_day('hour_at') }} from final
{% if is_incremental() %}
where hour_at >= date_trunc('hour', {{ recompute_from() }})
{% endif %}
