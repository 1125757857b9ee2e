{#- The grid step in minutes, as a SQL number (1/6 for 10 seconds): for arithmetic that
    counts durations from a number of steps. -#}
{% macro step_minutes() -%}
    ({{ grid_step_seconds() | trim }} / 60.0)
{%- endmacro %}
