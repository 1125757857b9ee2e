{#- Post-hook of int_batches_processed (built last): a completed build records its grid step in
    ops.grid, also when dbt is run by hand (`homewatch build` records it too, and more: see
    warehouse/grid.py). After check_grid_step, only a full refresh can bring another step. -#}
{% macro record_grid_step() -%}
    {%- set grid = adapter.get_relation(database=this.database, schema='ops', identifier='grid') -%}
    {%- set step = grid_step_seconds() | trim -%}
    {%- if grid is not none -%}
        delete from {{ grid }} where step_seconds <> {{ step }};
        insert into {{ grid }} (step_seconds, status, recorded_at, built_at)
            select {{ step }}, 'built', {{ xdb_cast('now()', 'timestamp') }}, {{ xdb_cast('now()', 'timestamp') }}
            where not exists (select 1 from {{ grid }});
        update {{ grid }} set status = 'built', built_at = {{ xdb_cast('now()', 'timestamp') }}
    {%- else -%}
        select 1  -- a warehouse without ops.grid (not migrated yet): `homewatch build` creates it
    {%- endif -%}
{%- endmacro %}
