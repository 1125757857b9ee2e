with

source as (

    select * from {{ source('raw', 'households') }}

),

renamed as (

    select
        {{ xdb_cast('household_id', 'varchar') }} as household_id,
        source as household_source,
        timezone,
        profile,
        batch_id,
        created_at
    from source

)

select * from renamed
