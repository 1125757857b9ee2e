{#- Two CTEs, `runs_started` and `runs_numbered`, that number the runs of `source`'s steps per
    `partition` (a comma-separated column list): a step starts a new run when the previous one
    is more than `bridge_minutes` (default event_bridge_minutes) earlier, so short gaps are
    bridged and one incident is one run. Used for the rule events, the classified anomalies and
    the generic incidents (whose bridge is their cooldown). -#}
{% macro bridged_runs(source, partition, bridge_minutes=none) -%}
{%- set bridge = bridge_minutes if bridge_minutes is not none else var("event_bridge_minutes") %}
runs_started as (

    select
        *,
        case
            when lag(step_at) over run_order is null
              or step_at - lag(step_at) over run_order > {{ xdb_interval(bridge, 'minutes') }} then 1
            else 0
        end as is_run_start
    from {{ source }}
    window run_order as (partition by {{ partition }} order by step_at)

),

runs_numbered as (

    select
        *,
        sum(is_run_start) over (partition by {{ partition }} order by step_at
                                rows between unbounded preceding and current row) as run_number
    from runs_started

)
{%- endmacro %}
