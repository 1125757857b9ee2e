{{ config(materialized='table') }}
-- The batches this build must take in: those landed since the last successful build, as
-- recorded in int_batches_processed (read without ref(): that model is built last, from this
-- one, so a ref would be a cycle). On a first or full-refresh build, every batch.
-- Incremental models recompute from the earliest step these batches touch (recompute_from()).
{%- set processed = adapter.get_relation(database=this.database, schema=this.schema,
                                          identifier='int_batches_processed') %}

with

batches as (

    select * from {{ ref('stg_raw__batches') }}

),

new_batches as (

    select * from batches
    {% if processed is not none and not flags.FULL_REFRESH %}
    where batch_id not in (select batch_id from {{ processed }})
    {% endif %}

),

windowed as (

    select
        batch_id,
        min_reading_at,
        max_reading_at,
        time_bucket({{ step_interval() }}, min_reading_at) as first_new_step,
        -- one step early: the spike rule compares a step with the next one, so the step
        -- before new data must be looked at again
        time_bucket({{ step_interval() }}, min_reading_at) - {{ step_interval() }} as recompute_from
    from new_batches
    where min_reading_at is not null

)

select * from windowed
