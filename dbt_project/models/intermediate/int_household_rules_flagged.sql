{{ config(partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Domain rules for the known sensors, one per anomaly class, per household and step, with
-- the evidence (observed vs expected) and a severity in [0, 1]; rule_class is the highest
-- class that fired (priority 5 > 4 > 3 > 2 > 1), 0 when none did.
--   1 heating failure:   temperature below its hour-of-day baseline by heating_drop_c
--                        over the whole sustained window (a short airing dip recovers), unless
--                        the home has an outdoor_temperature sensor and the last 24 h outside
--                        averaged heating_outdoor_max_c or more (a mild day needs no heating:
--                        heating switched off for the season is not a failure), and, with
--                        var heating_needs_fall, unless the room shows no failure's fall: it
--                        fell heating_fall_c within heating_fall_minutes (at this step, or
--                        earlier within the context window and has stayed more than
--                        heating_below_c under its baseline since), or is heating_day_drop_c
--                        colder than at the same time the day before, or has been that far
--                        under its baseline for the whole context window (a house floating
--                        with the weather, heating off for the season and no outdoor sensor,
--                        cools slowly each night, each morning like the one before; the
--                        classifier's anomalies need the same: fct_classified_anomalies).
--                        Or a slow failure: more than heating_slow_below_c under its baseline
--                        and heating_slow_day_drop_c colder than at the same time the day
--                        before, both over the whole sustained window, on a day that needs
--                        heating, the room under heating_slow_max_c throughout and the day
--                        before at its level (a real house cools with a time constant of days:
--                        its fall is too slow for the fast-fall evidence, and the night set-back
--                        in its hour-of-day baseline hides much of it).
--                        Before the home has a baseline (its first baseline_min_days), a room
--                        that stays below heating_cold_c for the whole sustained window
--   2 humidity anomaly:  humidity high for longer than a shower, begun at a time of day outside
--                        the household's shower pattern (int_household_shower_patterns: a
--                        distribution over the day, not one hour), or for twice that at any
--                        time. Longer than a shower: max_shower_minutes; but where a bathroom
--                        temperature sensor shows the bathroom warming as the spell began (a
--                        shower), longer than the household's own long showers
--                        (shower_history_factor x their shower_history_quantile length, at
--                        least shower_warmed_minutes)
--   3 fridge failure:    fridge power below fridge_low_w for at least fridge_max_off_minutes
--   4 door at night:     the front door opens in an hour the household sleeps: a quiet hour
--                        (expected motion below sleep_motion_rate) in the run of quiet hours
--                        around sleep_anchor_hour (03:00). A household away at work is quiet
--                        too; its 08:00 departure and 16:00 return are not at night. A day
--                        whose anchor hour is not quiet (night shifts) keeps every quiet hour
--   5 fire:              the fire alarm is on

{%- set max_run = var('context_hours') * 60 %}
{#- history an incremental run reads: the rolling windows' context, the classifier's longer
    memory of a cold spell (heating_memory_hours), or the day before of each step of the slow
    failure's sustained window (24 hours and sustained_minutes), whichever is longest -#}
{%- set day_before_hours = 24 + ((var('sustained_minutes') | float) / 60) | round(0, 'ceil') | int %}
{%- set history_hours = [var('context_hours'), var('heating_memory_hours'), day_before_hours] | max %}

with

grid as (

    select * from {{ ref('int_household_steps_pivoted') }}
    {% if is_incremental() %}
    where step_at >= {{ recompute_from() }} - {{ xdb_interval(history_hours, 'hours') }}
    {% endif %}

),

-- the room's temperature and baseline at the same time the day before (an incremental run reads
-- history_hours of history: every step of the sustained window before each step it writes has
-- its day before)
grid_day_before as (

    select
        grid.*,
        day_before.temperature as temperature_day_before,
        day_before.temperature_expected as temperature_expected_day_before
    from grid
    left join grid as day_before
        on day_before.household_id = grid.household_id
        and day_before.step_at = grid.step_at - {{ xdb_interval(24, 'hours') }}

),

shower_patterns as (

    select * from {{ ref('int_household_shower_patterns') }}

),

-- the night's run of quiet hours per household and day, from the motion baseline: hours are
-- ordered from noon (0) to the next morning (23), so a night never wraps; the run is the one
-- holding sleep_anchor_hour, bounded by the nearest hours with motion either side of it
{%- set anchor = (var('sleep_anchor_hour') + 12) % 24 %}
motion_hours as (

    select
        household_id,
        baseline_date,
        (hour_of_day + 12) % 24 as night_order,
        expected_mean < {{ var('sleep_motion_rate') }} as is_quiet
    from {{ ref('int_baselines_hour_of_day') }}
    where sensor = 'motion' and expected_mean is not null
    {% if is_incremental() %}
        and baseline_date >= {{ xdb_cast('(' ~ recompute_from() ~ ' - ' ~ xdb_interval(var("context_hours"), 'hours') ~ ')', 'date') }}
    {% endif %}

),

sleep_blocks as (

    select
        household_id,
        baseline_date,
        bool_or(is_quiet and night_order = {{ anchor }}) as is_anchor_quiet,
        coalesce(max(night_order) filter (where not is_quiet and night_order < {{ anchor }}), -1) as awake_before,
        coalesce(min(night_order) filter (where not is_quiet and night_order > {{ anchor }}), 24) as awake_after
    from motion_hours
    group by household_id, baseline_date

),

runs_measured as (

    select
        *,
        -- a missing reading ends a run: we cannot claim the fridge stayed off through a gap
        max(case when humidity is null or humidity < {{ var('humidity_high_rh') }} then step_at end)
            over history as humidity_last_normal_at,
        max(case when fridge_power is null or fridge_power >= {{ var('fridge_low_w') }} then step_at end)
            over history as fridge_last_on_at,
        -- every normal (or missing) humidity step starts a new run: the high steps after it share its id
        count(case when humidity is null or humidity < {{ var('humidity_high_rh') }} then 1 end)
            over history as humidity_run_id,
        avg(outdoor_temperature) over last_day as outdoor_mean_24h,
        -- the room's own last day (the classifier's season context: a room floating cool for
        -- days with the heating off for the season is not a room cooling after a failure)
        avg(temperature) over last_day as temperature_mean_24h,
        -- the warmest the room was over the whole sustained window (null unless read throughout)
        case when count(temperature) over sustained_window >= {{ var('sustained_minutes') }} / {{ step_minutes() }} + 1
             then max(temperature) over sustained_window end as temperature_max_sustained,
        -- how much colder than at the same time the day before the room stayed over the whole
        -- sustained window (null unless known throughout): a slow failure's fall
        case when count(temperature_day_before - temperature) over sustained_window
                  >= {{ var('sustained_minutes') }} / {{ step_minutes() }} + 1
             then min(temperature_day_before - temperature) over sustained_window end
            as temperature_day_drop_sustained,
        bathroom_temperature - min(bathroom_temperature) over warming_window as bathroom_warming_c,
        -- the warmest the room was over the last heating_fall_minutes (a heating failure's fall)
        max(temperature) over fall_window as temperature_max_fall_window
    from grid_day_before
    window
        history as (partition by household_id order by step_at rows between unbounded preceding and current row),
        last_day as (partition by household_id order by step_at
                     range between {{ xdb_interval(var("context_hours"), 'hours') }} preceding and current row),
        sustained_window as (partition by household_id order by step_at
                             range between {{ xdb_interval(var("sustained_minutes"), 'minutes') }} preceding and current row),
        warming_window as (partition by household_id order by step_at
                           range between {{ xdb_interval(var("shower_warming_minutes"), 'minutes') }} preceding and current row),
        fall_window as (partition by household_id order by step_at
                        range between {{ xdb_interval(var("heating_fall_minutes"), 'minutes') }} preceding and current row)

),

run_lengths as (

    select
        *,
        least(coalesce({{ xdb_date_diff('minute', 'humidity_last_normal_at', 'step_at') }}, {{ max_run }}), {{ max_run }})
            as humidity_high_minutes,
        least(coalesce({{ xdb_date_diff('minute', 'fridge_last_on_at', 'step_at') }}, {{ max_run }}), {{ max_run }})
            as fridge_off_minutes,
        -- a shower warms the bathroom as its humidity rises: a bathroom temperature sensor that
        -- rose by shower_warming_c within shower_warming_minutes of the high run's start says so
        coalesce(bool_or(
            {{ xdb_date_diff('minute', 'humidity_last_normal_at', 'step_at') }} <= {{ var('shower_warming_minutes') }}
            and bathroom_warming_c >= {{ var('shower_warming_c') }})
            over (partition by household_id, humidity_run_id order by step_at
                  rows between unbounded preceding and current row), false) as is_shower_warmed,
        -- the room's last fast fall, and the last step it was not heating_below_c under its baseline
        max(case when temperature_max_fall_window - temperature >= {{ var('heating_fall_c') }} then step_at end)
            over (partition by household_id order by step_at rows between unbounded preceding and current row)
            as heating_fall_at,
        max(case when not coalesce(temperature - temperature_expected < -{{ var('heating_below_c') }}, false)
                 then step_at end)
            over (partition by household_id order by step_at rows between unbounded preceding and current row)
            as temperature_not_cold_at
    from runs_measured

),

onsets as (

    -- the first high step of the current high run (within the context_hours cap)
    select *, step_at - {{ xdb_seconds('60 * humidity_high_minutes') }} + {{ step_interval() }} as humidity_onset_at
    from run_lengths

),

with_history as (

    -- the household's shower history, looked up at the current high run's onset
    select
        onsets.* {{ xdb_exclude() }} (humidity_onset_at),
        shower_patterns.shower_pattern_share,
        -- in the night's run of quiet hours (null without a motion baseline: then no door rule)
        case
            when not sleep_blocks.is_anchor_quiet then true
            else (hour(onsets.step_at) + 12) % 24 > sleep_blocks.awake_before
                 and (hour(onsets.step_at) + 12) % 24 < sleep_blocks.awake_after
        end as is_in_night_block,
        -- how long before a high spell is longer than a shower: max_shower_minutes, or for a
        -- shower the bathroom's warming confirms, the household's own long showers
        case
            when not is_shower_warmed then {{ var('max_shower_minutes') }}
            when shower_patterns.episodes_known >= {{ var('shower_history_min_episodes') }}
            then greatest({{ var('shower_warmed_minutes') }},
                          {{ var('shower_history_factor') }} * shower_patterns.typical_long_minutes)
            else {{ var('shower_warmed_minutes') }}
        end as humidity_long_minutes
    from onsets
    left join shower_patterns
        on onsets.humidity_high_minutes > 0
        and shower_patterns.household_id = onsets.household_id
        and shower_patterns.pattern_date = {{ xdb_cast('onsets.humidity_onset_at', 'date') }}
        and shower_patterns.slot
            = floor((hour(onsets.humidity_onset_at) * 60 + minute(onsets.humidity_onset_at)) / 30)
    left join sleep_blocks
        on onsets.door = 1
        and sleep_blocks.household_id = onsets.household_id
        and sleep_blocks.baseline_date = {{ xdb_cast('onsets.step_at', 'date') }}

),

rules as (

    select
        *,
        coalesce((temperature_max_deviation_sustained < -{{ var('heating_drop_c') }}
                  -- before the home has a baseline: a room that stays cold in absolute terms
                  or (temperature_expected is null and temperature_max_sustained < {{ var('heating_cold_c') }}))
                 and not coalesce(outdoor_mean_24h >= {{ var('heating_outdoor_max_c') }}, false)
                 {%- if var('heating_needs_fall') %}
                 -- a failure's fall: looked for within the context window less one fall window,
                 -- so an incremental run sees what a full one does
                 {%- set reach = xdb_interval(var('context_hours') * 60 - var('heating_fall_minutes'), 'minutes') %}
                 and (temperature_expected is null
                      or coalesce(temperature_day_before - temperature >= {{ var('heating_day_drop_c') }}, false)
                      or (heating_fall_at >= step_at - {{ reach }}
                          and (temperature_not_cold_at is null or heating_fall_at > temperature_not_cold_at))
                      or temperature_not_cold_at is null
                      or temperature_not_cold_at < step_at - {{ reach }})
                 {%- endif %}
                 -- a slow failure: a house that cools over days never falls fast, and its
                 -- hour-of-day baseline (which holds the night set-back) hides much of its fall;
                 -- but the day before, at the same time, the heating held the room at its level
                 -- (not more than heating_below_c under it: so not the day after the heating was
                 -- switched off for the season, which was cold already). A room that reached
                 -- heating_slow_max_c within the window is not cold: a cool summer day after a
                 -- hot one is as far under the day before
                 or (temperature_max_deviation_sustained < -{{ var('heating_slow_below_c') }}
                     and temperature_day_drop_sustained >= {{ var('heating_slow_day_drop_c') }}
                     and temperature_max_sustained < {{ var('heating_slow_max_c') }}
                     and temperature_day_before - temperature_expected_day_before >= -{{ var('heating_below_c') }}
                     and not coalesce(outdoor_mean_24h >= {{ var('heating_outdoor_max_c') }}, false)), false)
            as is_heating_failure,
        coalesce(
            humidity_high_minutes >= humidity_long_minutes
            and (coalesce(shower_pattern_share, 0) < {{ var('shower_hour_share') }}
                 or humidity_high_minutes >= 2 * humidity_long_minutes),
            false) as is_humidity_anomaly,
        coalesce(fridge_off_minutes >= {{ var('fridge_max_off_minutes') }} and fridge_power is not null, false)
            as is_fridge_failure,
        coalesce(door = 1 and motion_expected_mean < {{ var('sleep_motion_rate') }}
                 and coalesce(is_in_night_block, true), false) as is_door_at_night,
        coalesce(fire_alarm = 1, false) as is_fire
    from with_history

),

severities as (

    select
        *,
        -- at least 0.5 (a threshold met) when the rule fired, a slow failure's smaller drop too
        case when is_heating_failure
            then greatest({{ xdb_double('0.5') }},
                          {{ severity("coalesce(-temperature_max_deviation_sustained, "
                                      ~ var('heating_cold_c') ~ " + " ~ var('heating_drop_c') ~ " - temperature_max_sustained)",
                                      var('heating_drop_c')) }}) else 0 end
            as heating_failure_severity,
        case when is_humidity_anomaly
            then {{ severity('humidity_high_minutes', 'humidity_long_minutes') }} else 0 end
            as humidity_anomaly_severity,
        case when is_fridge_failure
            then {{ severity('fridge_off_minutes', var('fridge_max_off_minutes')) }} else 0 end
            as fridge_failure_severity,
        case when is_door_at_night
            then 1.0 - 0.5 * motion_expected_mean / {{ var('sleep_motion_rate') }} else 0 end
            as door_at_night_severity,
        case when is_fire then 1.0 else 0 end as fire_severity
    from rules

),

classified as (

    select
        household_id,
        step_at,
        temperature, humidity, fridge_power, motion, door, fire_alarm,
        temperature_expected,
        -- the room's warmest over the last heating_fall_minutes and its temperature at the same
        -- time the day before (a heating failure's fall; fct_classified_anomalies reads them too)
        temperature_max_fall_window,
        temperature_day_before,
        humidity_expected,
        humidity_high_share,
        fridge_power_expected_mean,
        motion_expected_mean,
        humidity_high_minutes,
        humidity_long_minutes,
        shower_pattern_share,
        is_shower_warmed,
        outdoor_mean_24h,
        temperature_mean_24h,
        -- the classifier's memory beyond its hour-long window: how long the room has stayed
        -- more than heating_below_c under its baseline, and whether a failure's fall began that
        -- cold spell (late in a long failure the hour looks like a room left cool; a room
        -- floating with the weather, heating off for the season, never fell). Both look back at
        -- most heating_memory_hours less one fall window, all of it in the history an
        -- incremental run reads, so it sees what a full one does
        {%- set reach_minutes = var('heating_memory_hours') * 60 - var('heating_fall_minutes') %}
        least(coalesce({{ xdb_date_diff('minute', 'temperature_not_cold_at', 'step_at') }}, {{ reach_minutes }}),
              {{ reach_minutes }}) as temperature_cold_minutes,
        coalesce(heating_fall_at >= step_at - {{ xdb_interval(reach_minutes, 'minutes') }}
                 and (temperature_not_cold_at is null or heating_fall_at > temperature_not_cold_at), false)
            as is_cold_since_fall,
        fridge_off_minutes,
        is_heating_failure, is_humidity_anomaly, is_fridge_failure, is_door_at_night, is_fire,
        heating_failure_severity, humidity_anomaly_severity, fridge_failure_severity,
        door_at_night_severity, fire_severity,
        case
            when is_fire then 5
            when is_door_at_night then 4
            when is_fridge_failure then 3
            when is_humidity_anomaly then 2
            when is_heating_failure then 1
            else 0
        end as rule_class,
        greatest(heating_failure_severity, humidity_anomaly_severity, fridge_failure_severity,
                 door_at_night_severity, fire_severity) as rule_severity
    from severities

)

select *{{ xdb_partition_day('step_at') }} from classified
{% if is_incremental() %}
where step_at >= {{ recompute_from() }}
{% endif %}
