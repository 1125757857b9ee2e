{#- min(column) of int_build_window as a timestamp literal, read when the calling model runs;
    'infinity' when no new batch arrived. At parse time (no database) it stays a subquery. -#}
{% macro build_window_literal(column) -%}
    {%- set window = ref('int_build_window') -%}
    {%- if execute -%}
        {%- set result = run_query("select " ~ xdb_cast("min(" ~ column ~ ")", "varchar") ~ " from " ~ window) -%}
        {%- set value = result.columns[0].values()[0] if result and result.rows | length > 0 else none -%}
        {%- if value -%}timestamp '{{ value }}'{%- else -%}{{ xdb_infinity() }}{%- endif -%}
    {%- else -%}
        (select min({{ column }}) from {{ window }})
    {%- endif -%}
{%- endmacro %}
