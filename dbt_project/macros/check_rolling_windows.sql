{#- Stop the build when a rolling window of int_sensor_features_rolled (vars rolling_*_hours,
    stuck_minutes) or the flags' sustained window reaches further back than context_hours: an
    incremental build reads only context_hours of history before its recompute start, so a
    longer window would see less history there than in a full refresh and give other values.
    The medium window counts twice (mean_3h_before: the medium window before the last one). -#}
{% macro check_rolling_windows() -%}
    {%- set context = var('context_hours') | float -%}
    {%- set reach = {
        'rolling_short_hours': var('rolling_short_hours') | float,
        'rolling_medium_hours (x 2, mean_3h_before)': 2 * (var('rolling_medium_hours') | float),
        'rolling_long_hours': var('rolling_long_hours') | float,
        'stuck_minutes / 60': (var('stuck_minutes') | float) / 60,
        'sustained_minutes / 60': (var('sustained_minutes') | float) / 60} -%}
    {%- for name, hours in reach.items() -%}
        {%- if hours <= 0 or hours > context -%}
            {{ exceptions.raise_compiler_error(
                "rolling window " ~ name ~ " = " ~ hours ~ " h must be above 0 and at most context_hours ("
                ~ context ~ " h): an incremental build reads only context_hours of history before the "
                ~ "steps it recomputes. Shorten the window or raise context_hours (then --full-refresh)") }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
