{#- dbt's own get_where_subquery, plus one token. A test's `where` config is rendered when the
    project is parsed, before anything is built, so `var('build_window_start')` can only be
    the token __build_window_start__; here, when the test runs, it becomes the build window's
    start as a timestamp literal (int_build_window exists by then; macros/resolve_build_window.sql),
    so DuckDB skips the row groups older than it instead of scanning a 31M-row table behind a
    subquery. -#}
{% macro default__get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% set where = resolve_build_window(where, relation.database) %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}
