{{ config(window_column='step_date', partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- One row per household, sensor, day and hour: the statistics of the hour's steps that the
-- hour-of-day baselines learn from (median, mean, std, min, max). Steps already flagged by the
-- baseline-free first-pass rules (missing or filled, stuck, point outliers) are left out, so
-- a sensor fault does not teach the baseline. Kept as a table, so an incremental build
-- recomputes the hours of the days it touches (whole days, from recompute_from()'s) and the
-- baselines read 28 days of hours instead of 28 days of steps.

with

features as (

    select * from {{ ref('int_sensor_features_rolled') }}
    {{ recompute_filter(to_date=true) }}

),

sensor_types as (

    select * from {{ ref('sensor_types') }}

),

first_pass_flagged as (

    select
        features.*,
        is_missing
        or is_filled
        or is_flat
        or (sensor_kind = 'continuous'
            and abs(value - median_3h)
                > {{ var('point_z') }} * {{ robust_scale('robust_std_3h', 'std_24h', 'sensor_types.typical_level', 'mean_24h') }})
            as is_excluded
    from features
    left join sensor_types on features.sensor = sensor_types.sensor

),

hours as (

    select
        household_id,
        sensor,
        any_value(sensor_kind) as sensor_kind,
        {{ xdb_cast('step_at', 'date') }} as step_date,
        hour(step_at) as hour_of_day,
        {{ xdb_isodow('step_at') }} >= 6 as is_weekend,
        {{ xdb_median('value') }} filter (where not is_excluded) as hour_median,
        avg(value) filter (where not is_excluded) as hour_mean,
        stddev_samp(value) filter (where not is_excluded) as hour_std,
        max(value) filter (where not is_excluded) as hour_max,
        min(value) filter (where not is_excluded) as hour_min,
        -- the longest the value stayed unchanged by this hour, on steps with a reading of their
        -- own (quantised sensors repeat values by nature, and the calibrated stuck rule learns
        -- how long; an outage repeats nothing and must not teach it)
        max(minutes_since_change) filter (where not is_missing and not is_filled) as hour_max_unchanged_minutes
    from first_pass_flagged
    group by household_id, sensor, step_date, hour_of_day, is_weekend

)

select *{{ xdb_partition_day('step_date') }} from hours
