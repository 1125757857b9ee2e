with spans as (
    select g, {{ xdb_time_bucket(300, 'min(ts)') }} as first_step_at, {{ xdb_time_bucket(300, 'min(ts)') }}
        + {{ xdb_interval(20, 'minutes') }} as last_step_at
    from {{ ref('xdb_input') }}
    group by g
)
select g, {{ xdb_step_series('first_step_at', 'last_step_at', 300) }} as step_at
from spans
