{#- The grid step in seconds, from the var step_seconds (what `homewatch build` passes: the
    step the warehouse recorded, see warehouse/grid.py). step_minutes is kept as an alias: when
    it is set (older commands, the unit tests' `vars: {step_minutes: 5}`) it wins. A step must be
    a whole number of seconds from 1 to 3600 that divides an hour, so every step lies inside one
    clock hour (the hour-of-day baselines) and steps line up on midnight; anything else stops
    the build with the reason. -#}
{% macro grid_step_seconds() -%}
    {%- set minutes = var('step_minutes', none) -%}
    {%- set raw = (minutes | float * 60) if minutes is not none else var('step_seconds') -%}
    {%- set seconds = raw | float -%}
    {%- if seconds != (seconds | int) or seconds < 1 or seconds > 3600 or 3600 % (seconds | int) != 0 -%}
        {{ exceptions.raise_compiler_error(
            "grid step " ~ raw ~ (" minutes" if minutes is not none else " seconds")
            ~ " is not a whole number of seconds from 1 to 3600 that divides an hour "
            ~ "(e.g. 1, 10, 30, 60, 300, 900, 3600 seconds)") }}
    {%- endif -%}
    {{ seconds | int }}
{%- endmacro %}
