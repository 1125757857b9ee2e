-- Typed readings with duplicates removed: a reading that arrives twice (same household,
-- sensor and time) counts once, keeping the value from the latest load.
with

source as (

    select * from {{ source('raw', 'readings') }}

),

renamed as (

    select
        household_id::varchar as household_id,
        lower(trim(sensor))::varchar as sensor,
        reading_at::timestamp as reading_at,
        value::double as value,
        batch_id,
        ingested_at::timestamp as ingested_at
    from source

),

deduplicated as (

    select
        household_id,
        sensor,
        reading_at,
        arg_max(value, ingested_at) as value,
        arg_max(batch_id, ingested_at) as batch_id,
        max(ingested_at) as ingested_at
    from renamed
    group by household_id, sensor, reading_at

)

select * from deduplicated
