-- One row per household, with the split it belongs to. The split is a fixed function of the
-- household id (an md5, not a random draw), so rules, models and reports agree on which
-- households are never trained or tuned on.

with

households as (

    select * from {{ ref('stg_raw__households') }}

),

hashed as (

    select
        *,
        -- the first 8 hex digits of the md5 as a number in [0, 1); this is the only place the
        -- split is computed (Python reads it from here: models_ml/data.py household_splits)
        {{ xdb_hex_to_number('left(md5(household_id), 8)') }} / {{ xdb_double('4294967296.0') }} as split_draw
    from households

),

split as (

    select
        household_id,
        household_source,
        timezone,
        case
            when split_draw < {{ var('test_household_share') }} then 'test'
            when split_draw < {{ var('test_household_share') }} + {{ var('validation_household_share') }}
                then 'validation'
            else 'train'
        end as split
    from hashed

)

select * from split
