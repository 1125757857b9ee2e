-- The classifier's predictions, one row per household, step and model version, as the scorer
-- wrote them (models_ml/score.py).
with

source as (

    select * from {{ source('ml', 'predictions') }}

),

renamed as (

    select
        household_id,
        step_at,
        model_version,
        predicted_class,
        confidence,
        p_normal,
        p_temperature_failure,
        p_humidity_anomaly,
        p_fridge_failure,
        p_door_at_night,
        p_fire,
        coalesce(is_out_of_distribution, false) as is_out_of_distribution,
        ood_score,
        run_id as score_run_id,
        scored_at
    from source

)

select * from renamed
