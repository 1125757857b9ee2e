{#- A test's `where` with the token __build_window_start__ (var build_window_start) turned into
    the build window's start as a timestamp literal, read from int_build_window in `database`
    when the test runs: every row (the open start) before int_build_window exists, as in a
    first build's staging tests; none (the open end) when no new batch arrived. A `where`
    without the token comes back as it is. Used by get_where_subquery (a test's own rows) and
    by tests that filter a second table the same way (tests/generic/one_row_per_parent_row.sql).
    DuckDB has infinite timestamps; Spark does not, so its open ends are the first and last
    representable days. -#}
{% macro resolve_build_window(where, database) -%}
    {{- return(adapter.dispatch('resolve_build_window', 'homewatch')(where, database)) -}}
{%- endmacro %}

{% macro default__resolve_build_window(where, database) -%}
    {{- return(resolve_build_window_as(where, database, '-infinity',
        "select coalesce(min(recompute_from), 'infinity'::timestamp)::varchar from ")) -}}
{%- endmacro %}

{% macro spark__resolve_build_window(where, database) -%}
    {{- return(resolve_build_window_as(where, database, '0001-01-01 00:00:00',
        "select cast(coalesce(min(recompute_from), timestamp '9999-12-31 00:00:00') as string) from ")) -}}
{%- endmacro %}

{% macro resolve_build_window_as(where, database, open_start, start_query) -%}
    {%- if '__build_window_start__' in where and execute -%}
        {%- set window = adapter.get_relation(database=database, schema='intermediate',
                                              identifier='int_build_window') -%}
        {%- set start = open_start -%}
        {%- if window is not none -%}
            {%- set result = run_query(start_query ~ window) -%}
            {%- set start = result.columns[0].values()[0] -%}
        {%- endif -%}
        {%- set where = where | replace('__build_window_start__', "timestamp '" ~ start ~ "'") -%}
    {%- endif -%}
    {{- return(where) -}}
{%- endmacro %}
