{{ config(window_column='pattern_date', partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Each household's own high-humidity history, for the humidity rule: one row per household,
-- day with data and half-hour slot of the day, learned from the days before that day only.
--   shower_pattern_share  share of the household's past days (up to shower_history_days) on
--                         which a high-humidity episode began within shower_pattern_hours of
--                         this slot: the shower pattern as a distribution over the day, so
--                         showers at irregular times still count as the household's own
--   episodes_known        high-humidity episodes that began in those past days and ended
--                         before this day
--   typical_long_minutes  the shower_history_quantile of their lengths: how long this
--                         household's own long showers keep the bathroom humid
--   days_known            past days with a bathroom humidity reading
-- An episode is a run of steps at or above humidity_high_rh; a missing reading ends it (as in
-- the rule). Small: 48 rows a household-day.
-- A day's history holds only episodes that ended before the day began, so an episode still
-- running when a batch ends is learned the same way by an incremental build and a full refresh.
-- Incremental: new steps from recompute_from() on can change only the days from its date on (an
-- episode they extend or join ended at the earliest one step before it), so an incremental build
-- recomputes those days, from the pivot's steps of shower_history_days + 1 days before them. An
-- episode cut by that start gets an onset before every recomputed day's history: never counted.

{%- set slot_minutes = 30 %}
{%- set reach = (var('shower_pattern_hours') * 60 / slot_minutes) | round | int %}
{%- if is_incremental() %}
{%- set first_day = xdb_cast('(' ~ recompute_from() ~ ')', 'date') %}
{%- set read_from = first_day ~ ' - ' ~ xdb_interval(var('shower_history_days') + 1, 'days') %}
{%- endif %}

with

steps as (

    select
        household_id,
        step_at,
        coalesce(humidity >= {{ var('humidity_high_rh') }}, false) as is_high
    from {{ ref('int_household_steps_pivoted') }}
    {% if is_incremental() %}
    where step_at >= {{ read_from }}
    {% endif %}

),

runs as (

    select
        *,
        -- every normal (or missing) step starts a new run id; the high steps after it share it
        sum(case when is_high then 0 else 1 end)
            over (partition by household_id order by step_at rows unbounded preceding) as run_id
    from steps

),

episodes as (

    select
        household_id,
        min(step_at) as onset_at,
        max(step_at) as last_high_at,
        {{ xdb_date_diff('second', 'min(step_at)', 'max(step_at)') }} / {{ xdb_double('60.0') }} + {{ step_minutes() }} as episode_minutes
    from runs
    where is_high
    group by household_id, run_id

),

days as (

    select distinct household_id, {{ xdb_cast('step_at', 'date') }} as pattern_date
    from {{ ref('int_household_steps_pivoted') }}
    where humidity is not null
    {% if is_incremental() %}
    and step_at >= {{ read_from }}
    {% endif %}

),

pattern_days as (

    -- the days this build writes: every day, or an incremental build's from recompute_from()'s date
    select * from days
    {% if is_incremental() %}
    where pattern_date >= {{ first_day }}
    {% endif %}

),

slots as (

    select {{ xdb_range_column() }} as slot from range(0, {{ (1440 / slot_minutes) | int }})

),

-- each episode's onset covers the slots within shower_pattern_hours of it (around midnight too)
onsets_covering as (

    select distinct
        episodes.household_id,
        {{ xdb_cast('episodes.onset_at', 'date') }} as onset_date,
        (({{ xdb_cast('floor((hour(episodes.onset_at) * 60 + minute(episodes.onset_at)) / ' ~ slot_minutes ~ ')', 'integer') }}
          + offsets.{{ xdb_range_column() }} + {{ (1440 / slot_minutes) | int }}) % {{ (1440 / slot_minutes) | int }}) as slot
    from episodes
    cross join range(-{{ reach }}, {{ reach + 1 }}) as offsets

),

history as (

    select
        days.household_id,
        days.pattern_date,
        count(distinct past_days.pattern_date) as days_known
    from pattern_days as days
    left join days as past_days
        on past_days.household_id = days.household_id
        and past_days.pattern_date >= days.pattern_date - {{ xdb_interval(var("shower_history_days"), 'days') }}
        and past_days.pattern_date < days.pattern_date
    {{ xdb_group_by_all('days.household_id, days.pattern_date') }}

),

lengths as (

    select
        days.household_id,
        days.pattern_date,
        count(episodes.onset_at) as episodes_known,
        {{ xdb_quantile('episodes.episode_minutes', var('shower_history_quantile')) }} as typical_long_minutes
    from pattern_days as days
    left join episodes
        on episodes.household_id = days.household_id
        and episodes.onset_at >= days.pattern_date - {{ xdb_interval(var("shower_history_days"), 'days') }}
        and episodes.last_high_at < days.pattern_date
    {{ xdb_group_by_all('days.household_id, days.pattern_date') }}

),

slot_days as (

    select
        days.household_id,
        days.pattern_date,
        onsets_covering.slot,
        count(distinct onsets_covering.onset_date) as days_with_onset
    from pattern_days as days
    inner join onsets_covering
        on onsets_covering.household_id = days.household_id
        and onsets_covering.onset_date >= days.pattern_date - {{ xdb_interval(var("shower_history_days"), 'days') }}
        and onsets_covering.onset_date < days.pattern_date
    {{ xdb_group_by_all('days.household_id, days.pattern_date, onsets_covering.slot') }}

)

select
    history.household_id,
    history.pattern_date,
    slots.slot,
    case when history.days_known > 0
        then coalesce(slot_days.days_with_onset, 0) / {{ xdb_cast('history.days_known', 'double') }} end as shower_pattern_share,
    lengths.episodes_known,
    lengths.typical_long_minutes,
    history.days_known{{ xdb_partition_day('history.pattern_date') }}
from history
cross join slots
inner join lengths
    on lengths.household_id = history.household_id and lengths.pattern_date = history.pattern_date
left join slot_days
    on slot_days.household_id = history.household_id
    and slot_days.pattern_date = history.pattern_date
    and slot_days.slot = slots.slot
