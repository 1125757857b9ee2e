{#- The grid step as a SQL interval literal (in seconds: steps below a minute work). -#}
{% macro step_interval() -%}
    {{ xdb_interval(grid_step_seconds() | trim, 'seconds') }}
{%- endmacro %}
