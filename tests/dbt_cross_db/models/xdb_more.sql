-- The macros added with the conversion of the whole project, one column each on the rows of
-- xdb_input (one row per input row): as-of matches, quantiles, a bucket with an origin, a RANGE
-- frame with mixed units, doubles, least of one, hex numbers, intervals from columns.
with

input as (

    select * from {{ ref('xdb_input') }}

),

marks as (

    -- a second series to match as of: one mark per group a few hours apart
    select 'a' as g, cast('2025-01-06 00:00:00' as timestamp) as mark_at, 100.0 as mark
    union all select 'a', cast('2025-01-06 01:00:00' as timestamp), 200.0
    union all select 'b', cast('2025-01-13 00:00:00' as timestamp), 300.0

),

matched as (

    select
        input.g,
        input.ts,
        at_or_before.mark as mark_at_or_before,
        before.mark as mark_before
    from input
    {{ xdb_asof_left_join('input', 'ts', 'marks', 'at_or_before', ['g'], 'input.ts', '>=', 'mark_at') }}
    {{ xdb_asof_left_join('input', 'ts', 'marks', 'before', ['g'], 'input.ts', '>', 'mark_at') }}

),

windowed as (

    select
        g,
        ts,
        {{ xdb_last_value_ignore_nulls('v') }} over (partition by g order by ts
                                                    rows between unbounded preceding and current row) as last_v,
        count(*) over (partition by g order by ts
                       range between {{ xdb_interval(1, 'days') }} preceding and {{ xdb_interval(30, 'minutes') }} preceding)
            as n_day_before_half_hour,
        {{ xdb_time_bucket(1500, 'ts', origin='2000-01-01') }} as bucket_25min_2000,
        {{ xdb_time_bucket(900, 'ts') }} as bucket_15min,
        ts + {{ xdb_seconds('90 * coalesce(k, 0)') }} + {{ xdb_hours('2') }} as shifted,
        {{ xdb_least(['coalesce(v, 0)']) }} as least_one,
        {{ xdb_hex_to_number("left(md5(g), 8)") }} / {{ xdb_double('4294967296.0') }} as g_draw,
        ts < {{ xdb_infinity() }} as before_infinity
    from input

)

select
    windowed.*,
    matched.mark_at_or_before,
    matched.mark_before
from windowed
inner join matched on windowed.g = matched.g and windowed.ts = matched.ts
