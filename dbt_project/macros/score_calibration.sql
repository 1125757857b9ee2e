{#- The two CTEs of int_sensor_scores that sum each series' recent past per hour: `running`
    (the counts summed from the first hour read, as doubles) and `calibration` (per hour of
    `hours`, the counts over the hours from `history` before it to `lag` before it, both
    included: the running sum at the last hour at most `lag` back, less the running sum at the
    last hour more than `history` back). `counts` are the count columns of `hours`; `lag` and
    `history` are interval literals. The caller filters calibration's rows to the hours it
    scores. -#}
{% macro score_calibration(counts, lag, history) -%}
    {{ return(adapter.dispatch('score_calibration', 'homewatch')(counts, lag, history)) }}
{%- endmacro %}

{#- A running sum is one window pass; a sum over a sliding frame of hours, for each of the 65
    counts, cost the model most of its time. Summed as doubles (exact for whole numbers below
    2^53): DuckDB sums bigints into 128-bit integers, and the 65 windows cost 51 CPU s that way
    at the default scale, 16 this way.
    DuckDB: each hour counts the series' hours at or before its two bounds (RANGE frames), and a
    lag by that many rows back reads the running sums there: one more window pass over the same
    order, where two as-of joins (each sorting the 65 running sums again) and the CTE they share
    cost 35 s at the default scale, the lags 26 s (the rows are identical).
    The counts travel in pairs, one double each, first * 2^26 + second. A score bucket holds at
    most 60 steps (an hour of steps of a minute or more, else 60 steps), so a running sum over a
    series' first n buckets is at most 60 n, below 2^26 while n <= 1,118,481 (127 years of
    hours, 2 years of 1-second steps; a longer series in one build is an error, not a wrong
    score): the pair's sum stays below 2^52, where doubles are exact, and a difference of two
    running sums unpacks the same way (its second part is never negative: both sums only grow).
    Half the windows and half the lags: the model took 19.4-20.3 s alone at the default scale
    against 25.2-26.4 s unpacked, with identical rows. -#}
{% macro duckdb__score_calibration(counts, lag, history) -%}
{%- set pairs = [] %}
{%- for i in range(0, counts | length, 2) %}{% do pairs.append(counts[i:i + 2]) %}{% endfor %}
running as (

    select
        household_id,
        sensor,
        hour_at,
        {%- set columns = [] %}
        {%- for pair in pairs %}
        {%- set packed = xdb_cast(pair[0], 'double') ~ (' * 67108864.0 + ' ~ xdb_cast(pair[1], 'double') if pair | length == 2 else '') %}
        {%- do columns.append('sum(' ~ packed ~ ') over upto as pair_' ~ loop.index0) %}
        {%- endfor %}
        {{ columns | join(',\n        ') }},
        case when row_number() over upto > 1118481
             then error('int_sensor_scores: a series of more than 1,118,481 score buckets in one build '
                        || 'overflows the packed calibration sums (macros/score_calibration.sql)')
             else row_number() over upto end as hour_number,
        -- how many of the series' hours lie at or before hour_at - lag (the last of them is
        -- the one to read), and strictly before hour_at - history (hours are whole
        -- timestamps, so a microsecond past the bound excludes an hour right on it)
        count(*) over (partition by household_id, sensor order by hour_at
                       range between unbounded preceding and {{ lag }} preceding) as hours_upto,
        count(*) over (partition by household_id, sensor order by hour_at
                       range between unbounded preceding and ({{ history }} + {{ xdb_interval(1, 'microseconds') }}) preceding)
            as hours_before
    from hours
    window upto as (partition by household_id, sensor order by hour_at rows between unbounded preceding and current row)

),

calibration_packed as (

    -- a lag of hour_number rows runs off the series' start: null, so 0 (nothing summed yet)
    select
        household_id,
        sensor,
        hour_at,
        {%- set columns = [] %}
        {%- for pair in pairs %}
        {%- do columns.append('coalesce(lag(pair_' ~ loop.index0 ~ ', hour_number - hours_upto) over series, 0)'
                              ~ ' - coalesce(lag(pair_' ~ loop.index0 ~ ', hour_number - hours_before) over series, 0) as pair_' ~ loop.index0) %}
        {%- endfor %}
        {{ columns | join(',\n        ') }}
    from running
    window series as (partition by household_id, sensor order by hour_at)

),

calibration as (

    -- each pair's difference unpacked (the second count's part is never negative: both running
    -- sums only grow, and the upper bound's row comes after the lower one's)
    select
        household_id,
        sensor,
        hour_at,
        {%- set columns = [] %}
        {%- for pair in pairs %}
        {%- if pair | length == 2 %}
        {%- do columns.append('floor(pair_' ~ loop.index0 ~ ' / 67108864.0) as ' ~ pair[0]) %}
        {%- do columns.append('pair_' ~ loop.index0 ~ ' - floor(pair_' ~ loop.index0 ~ ' / 67108864.0) * 67108864.0 as ' ~ pair[1]) %}
        {%- else %}
        {%- do columns.append('pair_' ~ loop.index0 ~ ' as ' ~ pair[0]) %}
        {%- endif %}
        {%- endfor %}
        {{ columns | join(',\n        ') }}
    from calibration_packed

)
{%- endmacro %}

{#- Spark: lag takes a constant offset only, so the two reads are as-of joins. -#}
{% macro spark__score_calibration(counts, lag, history) -%}
running as (

    select
        household_id,
        sensor,
        hour_at,
        {{ score_running_sums(counts) }}
    from hours
    window upto as (partition by household_id, sensor order by hour_at rows between unbounded preceding and current row)

),

calibration as (

    select
        hours.household_id,
        hours.sensor,
        hours.hour_at,
        {%- set columns = [] %}
        {%- for col in counts %}
        {%- do columns.append('coalesce(upto.' ~ col ~ ', 0) - coalesce(before.' ~ col ~ ', 0) as ' ~ col) %}
        {%- endfor %}
        {{ columns | join(',\n        ') }}
    from hours
    {{ xdb_asof_left_join('hours', 'hour_at', 'running', 'upto', ['household_id', 'sensor'],
                          'hours.hour_at - ' ~ lag, '>=', 'hour_at') }}
    {{ xdb_asof_left_join('hours', 'hour_at', 'running', 'before', ['household_id', 'sensor'],
                          'hours.hour_at - ' ~ history, '>', 'hour_at') }}

)
{%- endmacro %}

{#- The running sums of `counts` over the window `upto` (the series' hours so far), as doubles. -#}
{% macro score_running_sums(counts) -%}
    {%- set columns = [] %}
    {%- for col in counts %}
    {%- do columns.append('sum(' ~ xdb_cast(col, 'double') ~ ') over upto as ' ~ col) %}
    {%- endfor %}
    {{- columns | join(',\n        ') }}
{%- endmacro %}
