-- Typed readings with duplicates removed: a reading that arrives twice (same household,
-- sensor and time) counts once, keeping the value from the latest load.
with

source as (

    select * from {{ source('raw', 'readings') }}

),

renamed as (

    select
        {{ xdb_cast('household_id', 'varchar') }} as household_id,
        {{ xdb_cast('lower(trim(sensor))', 'varchar') }} as sensor,
        {{ xdb_cast('reading_at', 'timestamp') }} as reading_at,
        {{ xdb_cast('value', 'double') }} as value,
        batch_id,
        {{ xdb_cast('ingested_at', 'timestamp') }} as ingested_at
    from source

),

deduplicated as (

    select
        household_id,
        sensor,
        reading_at,
        {{ xdb_arg_max('value', 'ingested_at') }} as value,
        {{ xdb_arg_max('batch_id', 'ingested_at') }} as batch_id,
        max(ingested_at) as ingested_at
    from renamed
    group by household_id, sensor, reading_at

)

select * from deduplicated
