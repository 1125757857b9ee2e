{#- The time scales of the calibrated generic score (int_sensor_deviations, int_sensor_score_hours,
    int_sensor_scores, the incidents' cooldown) on any grid step. On steps of a minute or more
    they are the durations their vars say (an hour, 3 hours, 12 hours, 28 days, 120 minutes).
    Below a minute, a step stands for a minute: every window keeps the number of steps it has
    on a 1-minute grid, so on a 1-second grid the score's "hour" is 60 steps (a minute), its
    history 28 x 24 minutes, its lag 12 minutes, its calibration buckets 60 steps, its cooldown
    2 minutes. A 1-second series of twenty minutes then holds a full short window, a trailing
    window and a calibrated history, instead of being shorter than the score's first hour.
    The hour-of-day baselines, the recent range (hourly medians) and the stuck and dropout
    rules keep wall-clock durations on every grid: they are about the clock and the sensor. -#}

{#- Whether the grid step is under a minute (the score's windows then count steps). -#}
{% macro score_sub_minute() -%}
    {{ (grid_step_seconds() | trim | int) < 60 }}
{%- endmacro %}

{#- The factor a duration is scaled by: 1 on grids of a minute or more, step / 60 s below. -#}
{% macro score_scale() -%}
    {{ [1.0, (grid_step_seconds() | trim | float) / 60] | min }}
{%- endmacro %}

{#- `minutes` as the score reads it: unchanged (as given) on grids of a minute or more, scaled
    below. -#}
{% macro score_minutes(minutes) -%}
    {%- if score_sub_minute() | trim == 'True' -%}
        {{ (minutes | float) * (score_scale() | trim | float) }}
    {%- else -%}
        {{ minutes }}
    {%- endif -%}
{%- endmacro %}

{#- The score's duration of `minutes` as a whole number of grid steps (at least 1). -#}
{% macro score_steps(minutes) -%}
    {{ steps(score_minutes(minutes) | trim | float) }}
{%- endmacro %}

{#- The score's duration of `amount` `unit`s ('hours' or 'days') as a SQL interval literal: as
    written on grids of a minute or more, in seconds below. -#}
{% macro score_interval(amount, unit) -%}
    {%- if score_sub_minute() | trim == 'True' -%}
        {%- set seconds = (amount | float) * {'minutes': 60, 'hours': 3600, 'days': 86400}[unit] -%}
        {{ xdb_interval((seconds * (score_scale() | trim | float)) | round | int, 'seconds') }}
    {%- else -%}
        {{ xdb_interval(amount, unit) }}
    {%- endif -%}
{%- endmacro %}

{#- The calibration bucket a time falls in: its clock hour on grids of a minute or more; below,
    the 60 steps it falls in (aligned on midnight), the score's "hour". -#}
{% macro score_bucket(column) -%}
    {%- if score_sub_minute() | trim == 'True' -%}
        {{ xdb_time_bucket(60 * (grid_step_seconds() | trim | int), column, origin='2000-01-01') }}
    {%- else -%}
        date_trunc('hour', {{ column }})
    {%- endif -%}
{%- endmacro %}
