{#- The grid step in seconds, from the var step_seconds (what `homewatch build` passes: the
    step the warehouse recorded, see warehouse/grid.py): a number of seconds, or a duration
    with a unit ('10s', '5min', '1h'). step_minutes is kept as an alias: when it is set (older
    commands, the unit tests' `vars: {step_minutes: 5}`) it wins. A step must be a whole number
    of seconds from 1 to 3600 that divides an hour, so every step lies inside one clock hour
    (the hour-of-day baselines) and steps line up on midnight; anything else stops the build
    with the reason. -#}
{% macro grid_step_seconds() -%}
    {%- set minutes = var('step_minutes', none) -%}
    {%- set raw = (minutes ~ 'min') if minutes is not none else var('step_seconds') -%}
    {%- set units = {'s': 1, 'sec': 1, 'second': 1, 'seconds': 1, 'min': 60, 'minute': 60, 'minutes': 60,
                     'h': 3600, 'hour': 3600, 'hours': 3600} -%}
    {%- set match = modules.re.match('^\s*(-?[0-9]+(?:\.[0-9]*)?)\s*([a-z]*)\s*$', (raw ~ '') | lower) -%}
    {%- set seconds = (match.group(1) | float) * units.get(match.group(2) or 's', 0) if match else 0 -%}
    {%- if not match or (match.group(2) and match.group(2) not in units) or seconds != (seconds | int)
          or seconds < 1 or seconds > 3600 or 3600 % (seconds | int) != 0 -%}
        {{ exceptions.raise_compiler_error(
            "grid step " ~ raw ~ " is not a whole number of seconds from 1 to 3600 that divides an hour "
            ~ "(e.g. 1, 10, 30, 60, 300, 900, 3600 seconds, or '10s', '5min', '1h')") }}
    {%- endif -%}
    {{ seconds | int }}
{%- endmacro %}
