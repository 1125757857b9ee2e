-- Trained model versions and which one is in production (models_ml/registry.py).
with

source as (

    select * from {{ source('ml', 'model_registry') }}

),

renamed as (

    select
        model_version,
        arch,
        status as model_status,
        val_macro_f1,
        test_macro_f1,
        created_at,
        promoted_at
    from source

)

select * from renamed
