{#- Spark's version of macros/get_where_subquery.sql (dbt dispatches get_where_subquery, so this
    one wins on the spark target): the same token, but Spark has no '-infinity' / 'infinity'
    timestamps, so the open ends are the first and last representable days. -#}
{% macro spark__get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% if '__build_window_start__' in where and execute %}
            {% set window = adapter.get_relation(database=relation.database, schema='intermediate',
                                                 identifier='int_build_window') %}
            {% set start = '0001-01-01 00:00:00' %}
            {% if window is not none %}
                {% set result = run_query("select cast(coalesce(min(recompute_from), timestamp '9999-12-31 00:00:00') as string) "
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
