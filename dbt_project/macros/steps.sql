{#- A duration in minutes as a whole number of grid steps (at least 1). -#}
{% macro steps(minutes) -%}
    {{ [((minutes | float) / (var('step_minutes') | float)) | round(0, 'ceil') | int, 1] | max }}
{%- endmacro %}
