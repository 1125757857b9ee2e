{#- A test's `where` with the token __build_window_start__ (var build_window_start) turned into
    the build window's start as a timestamp literal, read from int_build_window in `database`
    when the test runs; '-infinity' (every row) before int_build_window exists, as in a first
    build's staging tests. A `where` without the token comes back as it is. -#}
{% macro resolve_build_window(where, database) -%}
    {%- if '__build_window_start__' in where and execute -%}
        {%- set window = adapter.get_relation(database=database, schema='intermediate',
                                              identifier='int_build_window') -%}
        {%- set start = '-infinity' -%}
        {%- if window is not none -%}
            {%- set result = run_query("select coalesce(min(recompute_from), 'infinity'::timestamp)::varchar "
                                       ~ "from " ~ window) -%}
            {%- set start = result.columns[0].values()[0] -%}
        {%- endif -%}
        {%- set where = where | replace('__build_window_start__', "timestamp '" ~ start ~ "'") -%}
    {%- endif -%}
    {{- return(where) -}}
{%- endmacro %}
