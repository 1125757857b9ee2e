with

source as (

    select * from {{ source('raw', 'batches') }}

),

renamed as (

    select
        batch_id,
        source as batch_source,
        source_ref,
        rows_loaded,
        rows_quarantined,
        min_reading_at,
        max_reading_at,
        started_at,
        finished_at
    from source

)

select * from renamed
