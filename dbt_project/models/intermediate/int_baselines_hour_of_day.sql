{{ config(window_column='baseline_date') }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Hour-of-day baselines per household, sensor, day and hour (weekdays and weekend days
-- learn separately): robust statistics of the same hour over the trailing baseline_days:
-- the median level, the typical low and high of the hour (a band that fits two-state
-- signals such as a cycling fridge), and a spread,
-- never including the day itself. Steps already flagged by the baseline-free first-pass
-- rules (missing or filled, stuck, point outliers) are left out, so a sensor fault does not
-- teach the baseline; an incident shorter than half the window cannot move a median of
-- daily values. Null until baseline_min_days days of that hour exist (warm-up).


with

features as (

    select * from {{ ref('int_sensor_features_rolled') }}
    {% if is_incremental() %}
    where step_at >= {{ recompute_from() }}::date - interval '{{ var("baseline_days") }} days'
    {% endif %}

),

sensor_types as (

    select * from {{ ref('sensor_types') }}

),

first_pass_flagged as (

    select
        features.*,
        is_missing
        or is_filled
        or (sensor_kind = 'continuous' and stuck_count = {{ steps(var('stuck_minutes')) }} and stuck_range = 0)
        or (sensor_kind = 'continuous'
            and abs(value - median_3h)
                > {{ var('point_z') }} * {{ robust_scale('mad_3h', 'std_24h', 'sensor_types.typical_level', 'mean_24h') }})
            as is_excluded
    from features
    left join sensor_types on features.sensor = sensor_types.sensor

),

hours_of_days as (

    select
        household_id,
        sensor,
        any_value(sensor_kind) as sensor_kind,
        step_at::date as baseline_date,
        hour(step_at) as hour_of_day,
        isodow(step_at) >= 6 as is_weekend,
        median(value) filter (where not is_excluded) as hour_median,
        avg(value) filter (where not is_excluded) as hour_mean,
        stddev_samp(value) filter (where not is_excluded) as hour_std,
        max(value) filter (where not is_excluded) as hour_max,
        min(value) filter (where not is_excluded) as hour_min
    from first_pass_flagged
    group by household_id, sensor, baseline_date, hour_of_day, is_weekend

),

past_days_summarised as (

    select
        household_id,
        sensor,
        sensor_kind,
        baseline_date,
        hour_of_day,
        is_weekend,
        median(hour_median) over past_days as expected_value,
        avg(hour_mean) over past_days as expected_mean,
        mad(hour_median) over past_days as day_to_day_mad,
        median(hour_min) over past_days as typical_low,
        median(hour_max) over past_days as typical_high,
        greatest(mad(hour_min) over past_days, mad(hour_max) over past_days) as band_mad,
        avg(hour_std) over past_days as within_hour_std,
        avg(case when hour_max >= {{ var('humidity_high_rh') }} then 1.0 else 0.0 end) over past_days
            as high_share,
        count(hour_median) over past_days as n_days
    from hours_of_days
    window past_days as (
        partition by household_id, sensor, is_weekend, hour_of_day
        order by baseline_date
        range between interval '{{ var("baseline_days") }} days' preceding and interval '1 day' preceding
    )

),

baselines as (

    select
        summary.household_id,
        summary.sensor,
        summary.baseline_date,
        summary.hour_of_day,
        summary.is_weekend,
        summary.n_days,
        summary.n_days >= {{ var('baseline_min_days') }} as is_warm,
        case when summary.n_days >= {{ var('baseline_min_days') }} then summary.expected_value end
            as expected_value,
        case when summary.n_days >= {{ var('baseline_min_days') }} then summary.expected_mean end
            as expected_mean,
        case when summary.n_days >= {{ var('baseline_min_days') }} then
            greatest(
                1.4826 * coalesce(summary.day_to_day_mad, 0),
                1.4826 * coalesce(summary.band_mad, 0),
                coalesce(summary.within_hour_std, 0),
                {{ scale_floor('sensor_types.typical_level', 'summary.expected_value') }}
            )
        end as spread,
        case when summary.n_days >= {{ var('baseline_min_days') }} then summary.typical_low end as typical_low,
        case when summary.n_days >= {{ var('baseline_min_days') }} then summary.typical_high end as typical_high,
        summary.high_share
    from past_days_summarised as summary
    left join sensor_types on summary.sensor = sensor_types.sensor

)

select * from baselines
{% if is_incremental() %}
where baseline_date >= {{ recompute_from() }}::date
{% endif %}
