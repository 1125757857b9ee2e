{#- The grid step as a SQL interval literal. -#}
{% macro step_interval() -%}
    interval '{{ var("step_minutes") }} minutes'
{%- endmacro %}
