-- The replace_window strategy: version 1 of the input, then version 2, where household h1 is
-- recomputed from 2025-01-02 12:00 on with fewer rows (its 2025-01-03 rows vanish) and h2 gets a
-- new day. Built incrementally it must equal a full refresh on version 2.
{{ config(materialized='incremental', incremental_strategy='replace_window',
          partition_by=['step_date'], on_schema_change='fail') }}
{%- set v = var('data_version') | int %}
with input as (
    select 'h1' as household_id, cast('2025-01-01 06:00:00' as timestamp) as step_at, 1.0 as value
    union all select 'h1', cast('2025-01-02 06:00:00' as timestamp), 2.0
    union all select 'h2', cast('2025-01-02 07:00:00' as timestamp), 20.0
    {%- if v == 1 %}
    union all select 'h1', cast('2025-01-02 13:00:00' as timestamp), 3.0
    union all select 'h1', cast('2025-01-03 06:00:00' as timestamp), 4.0
    {%- else %}
    union all select 'h1', cast('2025-01-02 12:00:00' as timestamp), 30.0
    union all select 'h2', cast('2025-01-04 07:00:00' as timestamp), 40.0
    {%- endif %}
)
select household_id, step_at, value, cast(step_at as date) as step_date
from input
{%- if is_incremental() and v == 2 %}
where (household_id = 'h1' and step_at >= cast('2025-01-02 12:00:00' as timestamp))
   or (household_id = 'h2' and step_at >= cast('2025-01-04 00:00:00' as timestamp))
{%- endif %}
