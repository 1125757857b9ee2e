{#- Time arithmetic and extraction. Durations are a number and a unit (second, minute, hour, day;
    singular or plural), as the models write them: `interval '24 hours'` on DuckDB. -#}

{#- An interval literal: `xdb_interval(24, 'hours')` -> interval '24 hours' (DuckDB),
    interval 24 hours (Spark). Also valid in a RANGE window frame on both. -#}
{% macro xdb_interval(amount, unit) -%}
    {{ return(adapter.dispatch('xdb_interval', 'homewatch')(amount, unit)) }}
{%- endmacro %}

{% macro duckdb__xdb_interval(amount, unit) -%}
    interval '{{ amount }} {{ unit }}'
{%- endmacro %}

{#- Spark: always a DAY TO SECOND literal (`interval '0 12:00:00' day to second`), whatever the
    unit: Spark types `interval 28 days` and `interval 12 hours` differently (INTERVAL DAY,
    INTERVAL HOUR) and refuses a RANGE frame whose two bounds differ. A RANGE frame over a DATE
    column needs INTERVAL DAY bounds instead: xdb_date_interval. -#}
{% macro spark__xdb_interval(amount, unit) -%}
    {%- set units = {'second': 1, 'seconds': 1, 'minute': 60, 'minutes': 60, 'hour': 3600, 'hours': 3600,
                     'day': 86400, 'days': 86400} -%}
    {%- set seconds = units[unit | trim | lower] -%}
    {%- set micros = ((amount | trim | float) * seconds * 1000000) | round | int -%}
    {%- set sign = '-' if micros < 0 else '' -%}
    {%- set micros = micros | abs -%}
    {%- set s = micros // 1000000 -%}
    {%- set frac = micros % 1000000 -%}
    interval '{{ sign }}{{ s // 86400 }} {{ '%02d' % ((s % 86400) // 3600) }}:{{ '%02d' % ((s % 3600) // 60) }}:{{ '%02d' % (s % 60) }}{{ ('.%06d' % frac) if frac else '' }}' day to second
{%- endmacro %}

{#- A whole number of days as the bound of a RANGE frame over a DATE column: DuckDB as
    xdb_interval (`interval '28 days'`); Spark `interval 28 days` (INTERVAL DAY, which a DATE
    order takes, unlike DAY TO SECOND). -#}
{% macro xdb_date_interval(amount, unit='days') -%}
    {{ return(adapter.dispatch('xdb_date_interval', 'homewatch')(amount, unit)) }}
{%- endmacro %}

{% macro duckdb__xdb_date_interval(amount, unit='days') -%}
    interval '{{ amount }} {{ unit }}'
{%- endmacro %}

{% macro spark__xdb_date_interval(amount, unit='days') -%}
    interval {{ amount | trim | int }} days
{%- endmacro %}

{#- Whole `part`s (second, minute, hour, day) between two timestamps, counted as DuckDB's
    date_diff counts them: boundaries crossed (both ends truncated to the part), not elapsed
    time rounded down. -#}
{% macro xdb_date_diff(part, start, end) -%}
    {{ return(adapter.dispatch('xdb_date_diff', 'homewatch')(part, start, end)) }}
{%- endmacro %}

{% macro duckdb__xdb_date_diff(part, start, end) -%}
    date_diff('{{ part }}', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__xdb_date_diff(part, start, end) -%}
    {%- set micros = {'second': 1000000, 'minute': 60000000, 'hour': 3600000000, 'day': 86400000000}[part] -%}
    cast((unix_micros(date_trunc('{{ part }}', cast({{ end }} as timestamp)))
          - unix_micros(date_trunc('{{ part }}', cast({{ start }} as timestamp)))) div {{ micros }} as bigint)
{%- endmacro %}

{#- Hour of the day (0-23), minute of the hour, ISO day of the week (Monday 1 ... Sunday 7). -#}
{% macro xdb_hour(ts) -%}
    {{ return(adapter.dispatch('xdb_hour', 'homewatch')(ts)) }}
{%- endmacro %}

{% macro default__xdb_hour(ts) -%}
    hour({{ ts }})
{%- endmacro %}

{% macro xdb_minute(ts) -%}
    {{ return(adapter.dispatch('xdb_minute', 'homewatch')(ts)) }}
{%- endmacro %}

{% macro default__xdb_minute(ts) -%}
    minute({{ ts }})
{%- endmacro %}

{% macro xdb_isodow(ts) -%}
    {{ return(adapter.dispatch('xdb_isodow', 'homewatch')(ts)) }}
{%- endmacro %}

{% macro duckdb__xdb_isodow(ts) -%}
    isodow({{ ts }})
{%- endmacro %}

{% macro spark__xdb_isodow(ts) -%}
    (weekday({{ ts }}) + 1)
{%- endmacro %}

{#- The start of the `seconds`-long bucket holding ts (seconds divides a day, as grid steps do:
    buckets then line up on midnight on both engines). The DuckDB text is what the models write
    with step_interval(): time_bucket(interval 'N seconds', ts). -#}
{#- `origin` (a timestamp literal's text, e.g. '2000-01-01'): buckets start there, as DuckDB's
    third argument (its default origin is 2000-01-03, a Monday midnight: the same buckets for
    widths that divide a day). -#}
{% macro xdb_time_bucket(seconds, ts, origin=none) -%}
    {{ return(adapter.dispatch('xdb_time_bucket', 'homewatch')(seconds, ts, origin)) }}
{%- endmacro %}

{% macro duckdb__xdb_time_bucket(seconds, ts, origin=none) -%}
    time_bucket(interval '{{ seconds | trim }} seconds', {{ ts }}{{ ", timestamp '" ~ origin ~ "'" if origin }})
{%- endmacro %}

{% macro spark__xdb_time_bucket(seconds, ts, origin=none) -%}
    {%- set width = (seconds | trim | int) * 1000000 -%}
    {%- set offset = ' - unix_micros(timestamp \'' ~ origin ~ '\')' if origin else '' -%}
    timestamp_micros(unix_micros(cast({{ ts }} as timestamp)) - pmod(unix_micros(cast({{ ts }} as timestamp)){{ offset }}, {{ width }}))
{%- endmacro %}

{#- One row per step from start to stop (both included), every `seconds`: the grid. Use in a
    select list, as the models do: `xdb_step_series(a, b, 300) as step_at`. -#}
{% macro xdb_step_series(start, stop, seconds) -%}
    {{ return(adapter.dispatch('xdb_step_series', 'homewatch')(start, stop, seconds)) }}
{%- endmacro %}

{% macro duckdb__xdb_step_series(start, stop, seconds) -%}
    unnest(generate_series({{ start }}, {{ stop }}, interval '{{ seconds | trim }} seconds'))
{%- endmacro %}

{% macro spark__xdb_step_series(start, stop, seconds) -%}
    explode(sequence(cast({{ start }} as timestamp), cast({{ stop }} as timestamp), interval {{ seconds | trim }} seconds))
{%- endmacro %}

{#- A timestamp after all data (what a build window is when nothing new arrived). DuckDB:
    'infinity'::timestamp; Spark has no infinite timestamps: the last representable day. -#}
{% macro xdb_infinity() -%}
    {{ return(adapter.dispatch('xdb_infinity', 'homewatch')()) }}
{%- endmacro %}

{% macro duckdb__xdb_infinity() -%}
    'infinity'::timestamp
{%- endmacro %}

{% macro spark__xdb_infinity() -%}
    timestamp '9999-12-31 00:00:00'
{%- endmacro %}

{#- An interval of `expr` seconds, expr any number (a column): DuckDB to_seconds(expr); Spark
    make_dt_interval(0, 0, 0, expr) (seconds with microseconds). -#}
{% macro xdb_seconds(expr) -%}
    {{ return(adapter.dispatch('xdb_seconds', 'homewatch')(expr)) }}
{%- endmacro %}

{% macro duckdb__xdb_seconds(expr) -%}
    to_seconds({{ expr }})
{%- endmacro %}

{% macro spark__xdb_seconds(expr) -%}
    make_dt_interval(0, 0, 0, cast({{ expr }} as decimal(18, 6)))
{%- endmacro %}

{#- An interval of `expr` hours (a column): DuckDB to_hours(expr); Spark make_dt_interval. -#}
{% macro xdb_hours(expr) -%}
    {{ return(adapter.dispatch('xdb_hours', 'homewatch')(expr)) }}
{%- endmacro %}

{% macro duckdb__xdb_hours(expr) -%}
    to_hours({{ expr }})
{%- endmacro %}

{% macro spark__xdb_hours(expr) -%}
    make_dt_interval(0, cast({{ expr }} as int), 0, 0)
{%- endmacro %}
