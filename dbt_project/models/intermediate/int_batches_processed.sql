{{ config(materialized='incremental', incremental_strategy='append', unique_key='batch_id',
          on_schema_change='append_new_columns', post_hook="{{ record_grid_step() }}") }}
-- The ledger of batches taken in by a completed build: built last (it depends on the final
-- models), so a build that fails part-way marks nothing and the next one redoes the work.
-- recompute_from is the first step the build recomputed for the batch: the scorer re-predicts
-- from there (models_ml/score.py). Its post-hook records the build's grid step in ops.grid.
-- depends_on: {{ ref('fct_anomaly_events') }}
-- depends_on: {{ ref('fct_ml_features') }}
-- depends_on: {{ ref('fct_rule_evaluation') }}

with

window_batches as (

    select * from {{ ref('int_build_window') }}

),

recorded as (

    select
        batch_id,
        min_reading_at,
        max_reading_at,
        recompute_from,
        {{ xdb_cast("now()", "timestamp") }} as processed_at
    from window_batches
    {% if is_incremental() %}
    where batch_id not in (select batch_id from {{ this }})
    {% endif %}

)

select * from recorded
