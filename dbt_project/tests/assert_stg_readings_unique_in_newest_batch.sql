-- stg_raw__readings has one row per household, sensor and reading time. De-duplication is by
-- construction (a group by on that key); this guards it over the time span of the newest batch
-- (at most its last newest_batch_test_days days), where a duplicate would arrive. A literal
-- bound lets DuckDB skip older row groups; a full scan would cost ~15 s per build at the
-- default scale.
select household_id, sensor, reading_at, count(*) as n_rows
from {{ ref('stg_raw__readings') }}
where reading_at >= {{ newest_batch_start() }}
group by household_id, sensor, reading_at
having count(*) > 1
