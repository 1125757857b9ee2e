{{ config(materialized='table') }}
-- depends_on: {{ ref('stg_raw__readings') }}
-- The batches this build must take in: those landed since the last successful build, as
-- recorded in int_batches_processed (read without ref(): that model is built last, from this
-- one, so a ref would be a cycle). On a first or full-refresh build, every batch.
-- Incremental models recompute from the earliest step these batches touch (recompute_from()).
{%- set processed = adapter.get_relation(database=this.database, schema=this.schema,
                                          identifier='int_batches_processed') %}
{%- set gridded = adapter.get_relation(database=this.database, schema=this.schema,
                                        identifier='int_readings_gridded') %}
{%- set incremental = processed is not none and gridded is not none and not flags.FULL_REFRESH %}
{{- check_grid_step(incremental) }}
{%- set new_from = none %}
{%- if incremental and execute %}
    {#- the earliest new reading, as a literal so the readings scan below skips old row groups -#}
    {%- set result = run_query("select " ~ xdb_cast("min(min_reading_at)", "varchar") ~ " from " ~ ref('stg_raw__batches')
                               ~ " where batch_id not in (select batch_id from " ~ processed ~ ")") %}
    {%- set new_from = result.columns[0].values()[0] if result and result.rows | length > 0 else none %}
{%- endif %}

with

batches as (

    select * from {{ ref('stg_raw__batches') }}

),

new_batches as (

    select * from batches
    {% if incremental %}
    where batch_id not in (select batch_id from {{ processed }})
    {% endif %}

),

{% if new_from %}
new_batch_households as (

    -- where each household's new readings start, per batch
    select
        batch_id,
        household_id,
        {{ xdb_time_bucket(grid_step_seconds(), 'min(reading_at)') }} as first_new_step
    from {{ ref('stg_raw__readings') }}
    where reading_at >= timestamp '{{ new_from }}'
      and batch_id in (select batch_id from new_batches)
    group by batch_id, household_id

),

household_firsts as (

    select household_id, min(first_new_step) as first_new_step
    from new_batch_households
    group by household_id

),

previous_ends as (

    -- each of those households' last step with a reading before its new readings start. Steps
    -- without one do not count: a build killed part-way may have gridded the gap before the
    -- new readings already, and the rerun must recompute from before that gap all the same.
    select gridded.household_id, max(gridded.step_at) as last_step_at
    from {{ gridded }} as gridded
    inner join household_firsts
        on gridded.household_id = household_firsts.household_id
        and gridded.step_at < household_firsts.first_new_step
    where gridded.n_readings > 0
    group by gridded.household_id

),

household_windows as (

    -- One step early: the spike rule (and lead_1) compares a step with the next one, so the
    -- step before new data must be looked at again. A household that comes back after a
    -- silence is recomputed from its previous last step, so the silent steps in between join
    -- the grid as missing, exactly as a full refresh would have them.
    select
        new_batch_households.batch_id,
        least(new_batch_households.first_new_step - {{ step_interval() }},
              coalesce(previous_ends.last_step_at, {{ xdb_infinity() }}))
            as recompute_from
    from new_batch_households
    left join previous_ends on new_batch_households.household_id = previous_ends.household_id

),

batch_windows as (

    select batch_id, min(recompute_from) as recompute_from
    from household_windows
    group by batch_id

),
{% endif %}

windowed as (

    select
        new_batches.batch_id,
        new_batches.min_reading_at,
        new_batches.max_reading_at,
        {{ xdb_time_bucket(grid_step_seconds(), 'new_batches.min_reading_at') }} as first_new_step,
        {% if new_from -%}
        coalesce(batch_windows.recompute_from,
                 {{ xdb_time_bucket(grid_step_seconds(), 'new_batches.min_reading_at') }} - {{ step_interval() }})
        {%- else -%}
        {{ xdb_time_bucket(grid_step_seconds(), 'new_batches.min_reading_at') }} - {{ step_interval() }}
        {%- endif %} as recompute_from
    from new_batches
    {% if new_from -%}
    left join batch_windows on new_batches.batch_id = batch_windows.batch_id
    {%- endif %}
    where new_batches.min_reading_at is not null

)

select * from windowed
