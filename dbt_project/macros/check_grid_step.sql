{#- Refuse an incremental build on another grid step than the one this warehouse's tables were
    built on (ops.grid, recorded by `homewatch build`, see warehouse/grid.py): its rows would
    land on a second grid next to the first. A full refresh rebuilds every table on the new
    step. Called by int_build_window, which every incremental model runs after. -#}
{% macro check_grid_step(incremental) -%}
    {%- if execute and incremental -%}
        {%- set grid = adapter.get_relation(database=this.database, schema='ops', identifier='grid') -%}
        {%- if grid is not none -%}
            {%- set result = run_query("select max(step_seconds) from " ~ grid) -%}
            {%- set recorded = result.columns[0].values()[0] if result and result.rows | length > 0 else none -%}
            {%- set step = grid_step_seconds() | trim | int -%}
            {%- if recorded is not none and (recorded | int) != step -%}
                {{ exceptions.raise_compiler_error(
                    "this warehouse's tables are built on " ~ recorded ~ "-second steps (ops.grid); building on "
                    ~ step ~ "-second steps needs every table rebuilt: add --full-refresh, or build with the "
                    ~ "recorded step (`homewatch build` does)") }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
