-- Aggregates and shapes added with the conversion: quantiles as a list and alone, an avg of
-- decimal literals, group by all, a union by name with a star, exclude, range(), unnest pairs.
with

input as (

    select * from {{ ref('xdb_input') }}

),

per_group as (

    select
        g,
        {{ xdb_list_element(xdb_quantiles('v', '0.1, 0.5, 0.9'), 1) }} as v_q10,
        {{ xdb_list_element(xdb_quantiles('v', '0.1, 0.5, 0.9'), 3) }} as v_q90,
        {{ xdb_quantile('k', 0.25) }} as k_q25,
        {{ xdb_filtered("avg(case when v > 4 then " ~ xdb_double('1.0') ~ " else " ~ xdb_double('0.0') ~ " end)", 'k is not null') }}
            as share_above_4,
        count(*) as n
    from input
    {{ xdb_group_by_all('g') }}

),

stacked as (

    select {{ xdb_star_by_name('g, n') }} from (select n, g from per_group) as flipped
    {{ xdb_union_all_by_name() }}
    select g, 0 as n from per_group

),

days as (

    select input.* {{ xdb_exclude() }} (v, k), cast(ts as date) as d from input

),

day_counts as (

    select g, d, count(*) over (partition by g order by d
                                range between {{ xdb_date_interval(7, 'days') }} preceding and {{ xdb_date_interval(1, 'day') }} preceding) as n_week_before
    from days

),

numbers as (

    select {{ xdb_range_column() }} as i from range(0, 3)

)

select
    per_group.g,
    per_group.v_q10,
    per_group.v_q90,
    per_group.k_q25,
    per_group.share_above_4,
    (select sum(n) from stacked where stacked.g = per_group.g) as stacked_n,
    (select max(n_week_before) from day_counts where day_counts.g = per_group.g) as max_week_before,
    (select sum(i) from numbers) as sum_i,
    metric,
    value
from per_group{{ xdb_unnest_pairs(["'n'", "'q90'"], ['per_group.n', 'per_group.v_q90'], 'metric', 'value') }}
