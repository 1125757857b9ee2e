{{ config(window_column='baseline_date', partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Hour-of-day baselines per household, sensor, day and hour (weekdays and weekend days
-- learn separately): robust statistics of the same hour over the trailing baseline_days:
-- the median level, the typical low and high of the hour (a band that fits two-state
-- signals such as a cycling fridge), and a spread,
-- never including the day itself. They learn from the hourly statistics of int_sensor_hours,
-- which leave out the steps already flagged by the baseline-free first-pass rules (missing or
-- filled, stuck, point outliers), so a sensor fault does not teach the baseline; an incident
-- shorter than half the window cannot move a median of daily values. Null until
-- baseline_min_days days of that hour exist (warm-up).


with

hours_of_days as (

    select
        household_id,
        sensor,
        sensor_kind,
        step_date as baseline_date,
        hour_of_day,
        is_weekend,
        hour_median,
        hour_mean,
        hour_std,
        hour_max,
        hour_min
    from {{ ref('int_sensor_hours') }}
    {% if is_incremental() %}
    where step_date >= {{ xdb_cast(recompute_from(), 'date') }} - {{ xdb_interval(var("baseline_days"), 'days') }}
    {% endif %}

),

sensor_types as (

    select * from {{ ref('sensor_types') }}

),

{#- The same statistics two ways. A full build computes every day's with windows over all the
    hours. An incremental build needs only the days from recompute_from() on (a day or two),
    and windows would compute all 29 days' to keep those: there each target hour joins its own
    past days (about 20 rows each), ten times faster. `past.`/`over` pick the form; the
    incremental == full refresh test holds the two to the same rows. Either form gathers each
    column's past days into a list once, and the medians and MADs are read from the lists
    (xdb_list in macros/cross_db/aggregates.sql): six windowed medians and MADs over the one
    frame cost 31 CPU s at the default scale, three windowed lists 18, the same rows. -#}
{%- set incremental = is_incremental() %}
{%- set p = 'past.' if incremental else '' %}
{%- set over = '' if incremental else ' over past_days' %}
{%- set over_name = none if incremental else 'past_days' %}
{%- set t = 'targets.' if incremental else '' %}
past_days_listed as (

    select
        {{ t }}household_id,
        {{ t }}sensor,
        {{ t }}sensor_kind,
        {{ t }}baseline_date,
        {{ t }}hour_of_day,
        {{ t }}is_weekend,
        {{ xdb_list(p ~ 'hour_median', over=over_name) }} as past_hour_medians,
        {{ xdb_list(p ~ 'hour_min', over=over_name) }} as past_hour_mins,
        {{ xdb_list(p ~ 'hour_max', over=over_name) }} as past_hour_maxes,
        avg({{ p }}hour_mean){{ over }} as expected_mean,
        avg({{ p }}hour_std){{ over }} as within_hour_std,
        {% if incremental -%}
        -- (a target with no past day at all joins one null row: no share, as over an empty frame)
        avg(case when past.baseline_date is not null then
                 case when past.hour_max >= {{ var('humidity_high_rh') }} then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end end) as high_share,
        {%- else -%}
        avg(case when hour_max >= {{ var('humidity_high_rh') }} then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end) over past_days as high_share,
        {%- endif %}
        count({{ p }}hour_median){{ over }} as n_days
    {% if incremental -%}
    from hours_of_days as targets
    left join hours_of_days as past
        on past.household_id = targets.household_id
        and past.sensor = targets.sensor
        and past.is_weekend = targets.is_weekend
        and past.hour_of_day = targets.hour_of_day
        and past.baseline_date >= targets.baseline_date - {{ xdb_interval(var("baseline_days"), 'days') }}
        and past.baseline_date <= targets.baseline_date - {{ xdb_interval(1, 'day') }}
    where targets.baseline_date >= {{ xdb_cast(recompute_from(), 'date') }}
    {{ xdb_group_by_all('targets.household_id, targets.sensor, targets.sensor_kind, targets.baseline_date, '
                        ~ 'targets.hour_of_day, targets.is_weekend') }}
    {%- else -%}
    from hours_of_days
    window past_days as (
        partition by household_id, sensor, is_weekend, hour_of_day
        order by baseline_date
        range between {{ xdb_date_interval(var("baseline_days"), 'days') }} preceding and {{ xdb_date_interval(1, 'day') }} preceding
    )
    {%- endif %}

),

past_days_summarised as (

    select
        household_id,
        sensor,
        sensor_kind,
        baseline_date,
        hour_of_day,
        is_weekend,
        {{ xdb_list_median('past_hour_medians') }} as expected_value,
        expected_mean,
        {{ xdb_list_mad('past_hour_medians') }} as day_to_day_mad,
        {{ xdb_list_median('past_hour_mins') }} as typical_low,
        {{ xdb_list_median('past_hour_maxes') }} as typical_high,
        greatest({{ xdb_list_mad('past_hour_mins') }}, {{ xdb_list_mad('past_hour_maxes') }}) as band_mad,
        within_hour_std,
        high_share,
        n_days
    from past_days_listed

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
        summary.high_share,
        -- the same level and spread from the first past day on (no warm-up gate): the
        -- calibrated score blends them in by n_days / (n_days + baseline_blend_days)
        summary.expected_mean as learned_mean,
        greatest(
            1.4826 * coalesce(summary.day_to_day_mad, 0),
            1.4826 * coalesce(summary.band_mad, 0),
            coalesce(summary.within_hour_std, 0),
            {{ scale_floor('sensor_types.typical_level', 'summary.expected_value') }}
        ) as learned_spread
    from past_days_summarised as summary
    left join sensor_types on summary.sensor = sensor_types.sensor

)

select *{{ xdb_partition_day('baseline_date') }} from baselines
{{ recompute_filter('baseline_date', to_date=true) }}
