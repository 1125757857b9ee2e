{#- The generic threshold flags, for any sensor, per household, sensor and step: a SELECT (with
    its own CTEs) over int_sensor_features_rolled and the hour-of-day baselines. Each flag carries
    a severity in [0, 1] (0.5 at its threshold, 1 at twice it); anomaly_score is the largest
    severity of the anomaly flags, health_score that of the sensor-health flags.
      anomaly flags: point (rolling robust z), contextual (vs the hour-of-day baseline),
                     collective (contextual deviation sustained over sustained_minutes), level shift
      health flags:  stuck (flatline), dropout, spike, noise burst, drift
    Continuous sensors get every flag; binary ones only dropout (their domain rules live in
    int_household_rules_flagged).
    `sensors`: only these sensors' rows (none: every sensor). An incremental model that calls it
    reads context_hours of history before its recompute start (every window fits in it); the
    caller cuts its own output at the start.
    Two readers: int_sensor_steps_flagged (a view: every sensor, computed when read) and
    int_household_steps_pivoted (one known sensor at a time, the columns its readers use), so
    a full build no longer writes and re-reads 30 columns of every sensor-step. -#}
{% macro generic_flags(sensors=none) -%}
{%- set part = "partition by household_id, sensor order by step_at" %}
{%- if sensors is none %}
{%- set sensor_filter = "true" %}
{%- else %}
{%- set sensor_filter = "sensor in ('" ~ (sensors | join("', '")) ~ "')" %}
{%- endif %}
with

features as (

    select * from {{ ref('int_sensor_features_rolled') }}
    where {{ sensor_filter }}
    {{ recompute_filter(context=true, keyword='and') }}

),

baselines as (

    select * from {{ ref('int_baselines_hour_of_day') }}
    where {{ sensor_filter }}
    {{ recompute_filter('baseline_date', context=true, to_date=true, keyword='and') }}

),

sensor_types as (

    select * from {{ ref('sensor_types') }}

),

features_joined_to_baselines as (

    select
        features.*,
        baselines.expected_value,
        baselines.expected_mean,
        baselines.typical_low,
        baselines.typical_high,
        baselines.spread,
        baselines.high_share,
        {{ robust_scale('features.robust_std_3h', 'features.std_24h', 'sensor_types.typical_level', 'features.mean_24h') }}
            as robust_scale
    from features
    left join baselines
        on features.household_id = baselines.household_id
        and features.sensor = baselines.sensor
        and {{ xdb_cast('features.step_at', 'date') }} = baselines.baseline_date
        and hour(features.step_at) = baselines.hour_of_day
    left join sensor_types on features.sensor = sensor_types.sensor

),

scored as (

    select
        *,
        value - expected_value as deviation,
        abs(value - median_3h) / robust_scale as robust_z,
        -- how far outside the hour's typical band, in spreads (0 inside it)
        case
            -- unknown in a gap or during warm-up: null, so window averages skip it
            when value is null or typical_low is null or typical_high is null then null
            when value > typical_high then (value - typical_high) / spread
            when value < typical_low then (value - typical_low) / spread
            else 0.0
        end as context_z,
        abs(mean_3h - mean_3h_before) / greatest(std_24h, robust_scale) as shift_z,
        least(abs(value - lag_1), abs(value - lead_1)) / robust_scale as jump_z,
        sign(value - lag_1) = sign(value - lead_1) as is_away_from_both,
        delta_std_1h / greatest(delta_std_24h, {{ var('noise_floor_scale_share') }} * robust_scale) as noise_ratio
    from features_joined_to_baselines

),

sustained as (

    -- Windows over continuous sensors only: binary ones take no generic anomaly flag (their
    -- window values are null). One window pass over every row, with no split by kind: a CTE
    -- read twice is stored whole (DuckDB), which spilled 5.7 GB at the default scale when these
    -- flags were a table of every sensor.
    select
        *,
        avg(case when sensor_kind = 'continuous' then context_z end) over sustained_window
            as context_z_sustained,
        max(case when sensor_kind = 'continuous' then value - expected_value end) over sustained_window
            as max_deviation_sustained,
        avg(case when sensor_kind = 'continuous' then context_z end) over last_day as drift_z
    from scored
    window
        -- the grid is regular, so ROWS frames of N steps are exact (and faster than RANGE)
        sustained_window as ({{ part }} rows between {{ steps(var('sustained_minutes')) | int - 1 }} preceding
                             and current row),
        last_day as ({{ part }} rows between {{ steps(60 * var('rolling_long_hours')) | int - 1 }} preceding and current row)

),

flagged as (

    select
        household_id,
        sensor,
        sensor_kind,
        step_at,
        value,
        expected_value,
        spread,
        expected_mean,
        deviation,
        max_deviation_sustained,
        high_share,
        mean_1h,
        std_1h,
        delta_1,
        minutes_since_change,
        robust_z,
        context_z,
        is_missing,
        is_filled,
        {% set continuous = "sensor_kind = 'continuous'" %}
        case when {{ continuous }} then {{ severity('robust_z', var('point_z')) }} else 0 end
            as point_severity,
        case when {{ continuous }} then {{ severity('abs(context_z)', var('context_z')) }} else 0 end
            as contextual_severity,
        case when {{ continuous }} then {{ severity('abs(context_z_sustained)', var('collective_z')) }} else 0 end
            as collective_severity,
        case when {{ continuous }} then {{ severity('shift_z', var('level_shift_z')) }} else 0 end
            as level_shift_severity,
        case when {{ continuous }} and is_flat
            then 1.0 else 0.0 end as stuck_severity,
        case when is_missing and not is_filled
            then {{ severity('minutes_since_reading', var('max_fill_minutes')) }} else 0 end
            as dropout_severity,
        case when {{ continuous }} and is_away_from_both then {{ severity('jump_z', var('spike_z')) }} else 0 end
            as spike_severity,
        case when {{ continuous }} then {{ severity('noise_ratio', var('noise_ratio')) }} else 0 end
            as noise_severity,
        case when {{ continuous }} then {{ severity('abs(drift_z)', var('drift_z')) }} else 0 end
            as drift_severity
    from sustained

),

final as (

    select
        *,
        greatest(point_severity, contextual_severity, collective_severity, level_shift_severity)
            as anomaly_score,
        greatest(stuck_severity, dropout_severity, spike_severity, noise_severity, drift_severity)
            as health_score
    from flagged

)

select * from final
{%- endmacro %}
