select
    g,
    ts,
    {{ xdb_cast('v', 'varchar') }} as v_text,
    {{ xdb_cast('v * 2', 'integer') }} as v_int,   -- whole numbers: DuckDB rounds a fraction, Spark truncates
    {{ xdb_cast("'2025-01-01 10:00:00'", 'timestamp') }} as literal_ts,
    ts + {{ xdb_interval(90, 'minutes') }} as ts_plus,
    ts - {{ xdb_interval(1, 'day') }} as ts_minus,
    {{ xdb_date_diff('minute', "cast('2025-01-06 00:00:59' as timestamp)", 'ts') }} as minutes_since,
    {{ xdb_date_diff('hour', "cast('2025-01-06 00:59:59' as timestamp)", 'ts') }} as hours_since,
    {{ xdb_date_diff('day', "cast('2025-01-05 23:59:59' as timestamp)", 'ts') }} as days_since,
    {{ xdb_hour('ts') }} as hour_of_day,
    {{ xdb_minute('ts') }} as minute_of_hour,
    {{ xdb_isodow('ts') }} as iso_dow,
    {{ xdb_time_bucket(300, 'ts') }} as bucket_5min,
    {{ xdb_time_bucket(3600, 'ts') }} as bucket_1h,
    {{ xdb_list_contains("array('a', 'c')" if target.type == 'spark' else "['a', 'c']", 'g') }} as in_list,
    {{ xdb_list_contains(xdb_empty_list('varchar'), 'g') }} as in_empty
from {{ ref('xdb_input') }}
