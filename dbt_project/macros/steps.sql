{#- A duration in minutes as a whole number of grid steps (at least 1), rounded up: 60 minutes
    are 12 steps of 5 minutes, 360 steps of 10 seconds, 1 step of an hour. -#}
{% macro steps(minutes) -%}
    {{ [((minutes | float) * 60 / (grid_step_seconds() | trim | float)) | round(0, 'ceil') | int, 1] | max }}
{%- endmacro %}
