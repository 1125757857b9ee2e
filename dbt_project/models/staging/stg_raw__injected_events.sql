with

source as (

    select * from {{ source('raw', 'injected_events') }}

),

renamed as (

    select
        event_id,
        {{ xdb_cast('household_id', 'varchar') }} as household_id,
        kind as event_kind,
        {{ xdb_cast('anomaly_class', 'integer') }} as anomaly_class,
        event_type,
        sensor,
        {{ xdb_cast('start_at', 'timestamp') }} as start_at,
        {{ xdb_cast('end_at', 'timestamp') }} as end_at,
        intensity,
        description
    from source

)

select * from renamed
