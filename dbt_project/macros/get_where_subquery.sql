{#- dbt's own get_where_subquery, plus one token. A test's `where` config is rendered when the
    project is parsed, before anything is built, so `var('build_window_start')` can only be
    the token __build_window_start__; here, when the test runs, it becomes the build window's
    start as a timestamp literal (int_build_window exists by then), so DuckDB skips the row
    groups older than it instead of scanning a 31M-row table behind a subquery. -#}
{% macro default__get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% if '__build_window_start__' in where and execute %}
            {#- a test that runs before int_build_window exists (a first build's staging tests)
                checks every row -#}
            {% set window = adapter.get_relation(database=relation.database, schema='intermediate',
                                                 identifier='int_build_window') %}
            {% set start = '-infinity' %}
            {% if window is not none %}
                {% set result = run_query("select coalesce(min(recompute_from), 'infinity'::timestamp)::varchar "
                                          ~ "from " ~ window) %}
                {% set start = result.columns[0].values()[0] %}
            {% endif %}
            {% set where = where | replace('__build_window_start__', "timestamp '" ~ start ~ "'") %}
        {% endif %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}
