select
    g,
    {{ xdb_arg_max('v', 'ts') }} as v_at_last_ts,
    {{ xdb_first_by('v', 'k desc nulls last, ts') }} as v_at_top_k,
    {{ xdb_first_by('ts', 'k, ts desc') }} as ts_at_low_k,
    {{ xdb_median('v') }} as v_median,
    {{ xdb_mad('v') }} as v_mad,
    {{ xdb_filtered('count(*)', 'v > 1') }} as n_over_1,
    {{ xdb_filtered(xdb_median('v'), 'k is not null') }} as v_median_keyed,
    {{ xdb_filtered('max(ts)', 'v is null') }} as ts_missing,
    {{ xdb_sorted_distinct_list(xdb_cast(xdb_hour('ts'), 'varchar')) }} as hours_seen
from {{ ref('xdb_input') }}
group by g
