{{ config(replace_from='open_events', window_column='end_at', partition_by=xdb_partition_by()) }}
-- depends_on: {{ ref('int_build_window') }}  (incremental runs reopen the events new steps can reach)
-- Runs of flagged steps of one household, rule and sensor, merged when less than
-- event_bridge_minutes apart: every event before fct_anomaly_events drops duplicates.
--
-- Incremental: steps before recompute_from() do not change, so an event that ends at or
-- before events_cut() (recompute_from() less the bridge) can gain no step: its next step
-- would be more than the bridge away. Those events stay; the others (the open events) are
-- deleted and recomputed from the first step of each household, rule and sensor's earliest
-- open event, so a long incident is merged whole again and a re-run gives the same rows as a
-- full refresh. A batch of one day reads about a day of flagged steps, not all of them.

with

{% if is_incremental() %}
open_events as (

    select household_id, rule_name, sensor, min(start_at) as reopen_from
    from {{ this }}
    where end_at > {{ events_cut() }}
    group by household_id, rule_name, sensor

),
{% endif %}

all_steps as (

    select steps.*
    from {{ ref('int_rule_steps_flagged') }} as steps
    {% if is_incremental() %}
    left join open_events
        on steps.household_id = open_events.household_id
        and steps.rule_name = open_events.rule_name
        and steps.sensor = open_events.sensor
    where steps.step_at >= least(coalesce(open_events.reopen_from, {{ events_cut() }}), {{ events_cut() }})
    {% endif %}

),

{{ bridged_runs('all_steps', 'household_id, rule_name, sensor') }},

events as (

    select
        household_id,
        event_kind,
        rule_name,
        anomaly_class,
        sensor,
        any_value(sensors) as sensors,
        min(step_at) as start_at,
        max(step_at) + {{ step_interval() }} as end_at,
        count(*) as n_flagged_steps,
        max(severity) as peak_severity,
        -- at the peak: the first of the steps with the highest severity (ties broken by time,
        -- so every rebuild of the same data picks the same step)
        {{ xdb_first_by('observed_value', 'severity desc nulls last, step_at') }} as observed_value,
        {{ xdb_first_by('expected_value', 'severity desc nulls last, step_at') }} as expected_value,
        {{ xdb_first_by('step_at', 'severity desc nulls last, step_at') }} as peak_at
    from runs_numbered
    group by household_id, event_kind, rule_name, anomaly_class, sensor, run_number

)

select *{{ xdb_partition_day('end_at') }} from events
