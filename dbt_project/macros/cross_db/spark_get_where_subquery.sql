{#- Spark's version of macros/get_where_subquery.sql (dbt dispatches get_where_subquery, so this
    one wins on the spark target): the same token, resolved by macros/resolve_build_window.sql,
    whose Spark form has no '-infinity' / 'infinity' timestamps (the open ends are the first and
    last representable days). -#}
{% macro spark__get_where_subquery(relation) -%}
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
