with

source as (

    select * from {{ source('raw', 'injected_events') }}

),

renamed as (

    select
        event_id,
        household_id::varchar as household_id,
        kind as event_kind,
        anomaly_class::integer as anomaly_class,
        event_type,
        sensor,
        start_at::timestamp as start_at,
        end_at::timestamp as end_at,
        intensity,
        description
    from source

)

select * from renamed
