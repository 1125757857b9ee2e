{#- Two CTEs, `runs_started` and `runs_numbered`, that number the runs of `source`'s steps per
    `partition` (a comma-separated column list): a step starts a new run when the previous one
    is more than event_bridge_minutes earlier, so short gaps are bridged and one incident is one
    run. Used for the rule events and the classified anomalies alike. -#}
{% macro bridged_runs(source, partition) -%}
runs_started as (

    select
        *,
        case
            when lag(step_at) over run_order is null
              or step_at - lag(step_at) over run_order > interval '{{ var("event_bridge_minutes") }} minutes' then 1
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
