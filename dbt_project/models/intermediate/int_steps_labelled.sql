{{ config(schema='marts', partition_by=xdb_partition_by()) }}
-- An intermediate model (it feeds fct_rule_evaluation), kept in the marts schema: the classifier
-- (models_ml/data.py) and its users read marts.int_steps_labelled.
-- depends_on: {{ ref('int_build_window') }}  (incremental runs start at recompute_from())
-- Ground truth per household and step, for measuring rules and models on simulated data:
-- the highest anomaly class whose injected event covers the step (priority 5 > 4 > 3 > 2 > 1),
-- 0 if none. Empty for households without ground truth (ingested files).

with

steps as (

    select household_id, step_at, rule_class from {{ ref('int_household_rules_flagged') }}
    {{ recompute_filter() }}

),

anomalies as (

    select * from {{ ref('stg_raw__injected_events') }} where event_kind = 'anomaly'

),

labelled as (

    select
        steps.household_id,
        steps.step_at,
        steps.rule_class,
        coalesce(max(anomalies.anomaly_class), 0) as label_class
    from steps
    left join anomalies
        on steps.household_id = anomalies.household_id
        and steps.step_at >= anomalies.start_at
        and steps.step_at < anomalies.end_at
    where steps.household_id in (select household_id from {{ ref('stg_raw__injected_events') }})
    group by steps.household_id, steps.step_at, steps.rule_class

)

select *{{ xdb_partition_day('step_at') }} from labelled
