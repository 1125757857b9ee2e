{{ config(materialized='table') }}
-- One row per anomaly the classifier names: runs of steps that the production model gives one
-- anomaly class, merged when less than event_bridge_minutes apart (as fct_anomaly_events
-- merges rule flags), with the model's confidence, the model version, and the rule evidence:
-- the domain-rule events of fct_anomaly_events that overlap it (their rules, peak severity,
-- observed vs expected value) and whether a rule of the same class agrees. A run with fewer
-- predicted minutes than classified_min_minutes of its class is a blip, not an anomaly, and
-- is left out (the classifier's evaluation applies the same rule: models_ml/metrics.py).
-- Rebuilt after each scoring run (`homewatch score` then `homewatch build --select
-- fct_classified_anomalies`; the batch job does both). Empty until a model has scored.
-- Steps the scorer flagged out of the model's training distribution (models_ml/ood.py) raise
-- no anomaly unless var alert_out_of_distribution is true; then an anomaly says how many of
-- its steps were out of distribution (ood_steps). Humidity-anomaly steps inside a shower the
-- bathroom's temperature confirms (only homes with a bathroom_temperature sensor; see the
-- humidity rule; from the spell's first high step, and a spell that follows a confirmed one
-- within shower_warming_minutes is the same shower: rule_steps) raise no anomaly unless var
-- classifier_shower_veto is false. A humidity
-- anomaly is raised only if, at one of its predicted steps, the humidity has stayed at or above
-- humidity_high_rh for longer than a shower as the humidity rule judges it (humidity_high_minutes
-- at least humidity_long_minutes; var classifier_needs_evidence; the evaluation applies the same
-- rule, models_ml/metrics.py humidity_evidence): a real bathroom drying for hours at 60-74 %RH
-- after a shower, or a 30-minute evening shower, is not a leak. Under the same var,
-- a heating failure is raised only if one of its predicted steps shows the room falling
-- heating_fall_c within heating_fall_minutes to more than heating_below_c under its baseline, or
-- heating_day_drop_c under the same time the day before (a home without a baseline yet: the
-- fall, or the room under heating_cold_c), or still more than heating_below_c under its
-- baseline since such a fall
-- (heating_steps; the evaluation: models_ml/metrics.py heating_evidence): a house with the
-- heating off for the season floats slowly with the weather, each cool morning like the one
-- before, and its cool mornings are no failure. A fridge failure is raised only if at one of its
-- steps the fridge has drawn under fridge_low_w for fridge_max_off_minutes (the fridge rule's
-- "longer than a defrost"; a meter that stopped reporting is no failed fridge). And a door at night is raised only if at one
-- of its predicted steps the door is open, in an hour the household usually sleeps through,
-- into a home that was not empty (door_steps; models_ml/metrics.py door_evidence): a home
-- whose motion sensor saw next to no one through evening hours its household is normally up
-- in was out, and a door then is the household coming home late; a household up at that
-- hour on most days is leaving early.

with

production as (

    select model_version from {{ ref('stg_ml__model_registry') }} where model_status = 'production'

),

-- the rules' view of each step (int_household_rules_flagged): its high-humidity spell and
-- whether the bathroom's own temperature confirmed that spell a shower, the room's temperature
-- against its baseline, its last heating_fall_minutes and the day before, and the door and
-- motion against the household's motion baseline
rule_levels as (

    select
        household_id,
        step_at,
        temperature,
        temperature_expected,
        temperature_max_fall_window,
        temperature_day_before,
        door,
        motion,
        motion_expected_mean,
        fridge_off_minutes,
        humidity_high_minutes,
        humidity_long_minutes,
        step_at - {{ xdb_seconds('60 * humidity_high_minutes') }} as spell_onset_at,
        -- a high-humidity spell whose bathroom warms within shower_warming_minutes of its start
        -- is a shower from its first high step on: the rule learns it as the warming shows (a
        -- step or two later), the veto applies it to the whole spell
        case when humidity_high_minutes > 0 then bool_or(is_shower_warmed) over humidity_spell
             else is_shower_warmed end as is_warmed_spell
    from {{ ref('int_household_rules_flagged') }}
    -- one high-humidity spell: its steps share their onset
    window humidity_spell as (partition by household_id, step_at - {{ xdb_seconds('60 * humidity_high_minutes') }})

),

-- the last high step of a warmed spell before each step, and before each spell began
shower_spells as (

    select
        *,
        first_value(last_warmed_at) over (partition by household_id, spell_onset_at order by step_at)
            as warmed_before_onset_at
    from (
        select
            *,
            max(case when is_warmed_spell and humidity_high_minutes > 0 then step_at end)
                over (partition by household_id order by step_at rows between unbounded preceding and 1 preceding)
                as last_warmed_at
        from rule_levels
    ) as with_last

),

-- steps inside a shower the bathroom's temperature confirms, not yet longer than the
-- household's own long showers (the classifier cannot see a bathroom temperature, the humidity
-- rule can). A spell that begins within shower_warming_minutes of a warmed spell's last high
-- step is the same shower, the humidity having dipped under humidity_high_rh for a moment (the
-- bathroom, still warm, cannot warm by shower_warming_c again): confirmed for up to
-- shower_warmed_minutes
rule_steps as (

    select
        *,
        (is_warmed_spell and humidity_high_minutes < humidity_long_minutes)
        or (humidity_high_minutes > 0 and humidity_high_minutes < {{ var('shower_warmed_minutes') }}
            and spell_onset_at - warmed_before_onset_at <= {{ xdb_interval(var("shower_warming_minutes"), 'minutes') }})
            as is_confirmed_shower
    from shower_spells

),

-- a heating failure's fall: the room heating_fall_c under the warmest it was in the last
-- heating_fall_minutes and so more than heating_below_c under its baseline (a fall into the
-- cold: a room cooling back to its usual level after cooking, a fire or the sun is no failure),
-- or heating_day_drop_c colder than at the same time the day before (a slow house). A home
-- without a baseline yet: the fall alone, or the room under heating_cold_c, as the heating rule
-- judges a home's first days
heating_falls as (

    select
        household_id,
        step_at,
        coalesce(temperature_max_fall_window - temperature >= {{ var('heating_fall_c') }}
                 and (temperature - temperature_expected < -{{ var('heating_below_c') }}
                      or temperature_expected is null), false)
            or coalesce(temperature_day_before - temperature >= {{ var('heating_day_drop_c') }}, false)
            or (temperature_expected is null and coalesce(temperature < {{ var('heating_cold_c') }}, false))
            as is_heating_fall,
        not coalesce(temperature - temperature_expected < -{{ var('heating_below_c') }}, false)
            as is_not_cold
    from rule_steps

),

-- a step shows a heating failure's evidence if the room falls there, or has stayed more than
-- heating_below_c under its baseline since such a fall (models_ml/metrics.py heating_evidence
-- computes the same for the evaluation)
heating_steps as (

    select
        household_id,
        step_at,
        is_heating_fall
        or (last_fall_at is not null and (last_not_cold_at is null or last_fall_at > last_not_cold_at))
            as is_heating_evidence
    from (
        select
            household_id,
            step_at,
            is_heating_fall,
            max(case when is_heating_fall then step_at end) over history as last_fall_at,
            max(case when is_not_cold then step_at end) over history as last_not_cold_at
        from heating_falls
        window history as (partition by household_id order by step_at
                           rows between unbounded preceding and current row)
    ) as last_seen

),

-- a predicted door at night's evidence at each of its steps (models_ml/metrics.py door_evidence
-- computes the same for the evaluation): the door open, in an hour the household usually sleeps
-- through (its expected motion under door_awake_motion_rate; none known: kept), into a home that
-- was not empty. Empty: over the door_empty_minutes before the step, on the steps with both a
-- motion reading and its baseline (at least half the window's steps), the motion sensor saw at
-- most door_empty_share of the motion the baseline expects, and that expects at least
-- door_empty_motion_rate a step (hours the household is normally up in). Only the model's door
-- steps are looked at, so the window is a small range join, not a window over every step
door_steps as (

    select
        predictions.household_id,
        predictions.step_at,
        coalesce(max(here.door) = 1, false)
        and not coalesce(max(here.motion_expected_mean) >= {{ var('door_awake_motion_rate') }}, false)
        and not coalesce(
            count(before.step_at) <= 2 * count(case when before.motion is not null
                                                     and before.motion_expected_mean is not null then 1 end)
            and avg(case when before.motion is not null then before.motion_expected_mean end)
                >= {{ var('door_empty_motion_rate') }}
            and avg(case when before.motion_expected_mean is not null then before.motion end)
                <= {{ var('door_empty_share') }}
                   * avg(case when before.motion is not null then before.motion_expected_mean end),
            false) as is_door_evidence
    from {{ ref('stg_ml__predictions') }} as predictions
    inner join production on predictions.model_version = production.model_version
    left join {{ ref('int_household_rules_flagged') }} as here
        on here.household_id = predictions.household_id
        and here.step_at = predictions.step_at
    left join {{ ref('int_household_rules_flagged') }} as before
        on before.household_id = predictions.household_id
        and before.step_at >= predictions.step_at - {{ xdb_interval(var('door_empty_minutes'), 'minutes') }}
        and before.step_at < predictions.step_at
    where predictions.predicted_class = 4
    group by predictions.household_id, predictions.step_at

),

predicted_steps as (

    select
        predictions.*,
        rule_steps.humidity_high_minutes,
        rule_steps.humidity_long_minutes,
        rule_steps.fridge_off_minutes,
        heating_steps.is_heating_evidence,
        door_steps.is_door_evidence
    from {{ ref('stg_ml__predictions') }} as predictions
    inner join production on predictions.model_version = production.model_version
    left join rule_steps
        on rule_steps.household_id = predictions.household_id
        and rule_steps.step_at = predictions.step_at
    left join heating_steps
        on heating_steps.household_id = predictions.household_id
        and heating_steps.step_at = predictions.step_at
    left join door_steps
        on door_steps.household_id = predictions.household_id
        and door_steps.step_at = predictions.step_at
    where predictions.predicted_class <> 0
    {%- if not var('alert_out_of_distribution') %}
        and not predictions.is_out_of_distribution
    {%- endif %}
    {%- if var('classifier_shower_veto') %}
        and not (predictions.predicted_class = 2 and coalesce(rule_steps.is_confirmed_shower, false))
    {%- endif %}

),

classes as (

    select * from {{ ref('anomaly_classes') }}

),

rule_events as (

    select * from {{ ref('fct_anomaly_events') }} where event_kind = 'anomaly'

),

{{ bridged_runs('predicted_steps', 'household_id, predicted_class') }},

events as (

    select
        household_id,
        predicted_class as anomaly_class,
        model_version,
        min(step_at) as start_at,
        max(step_at) + {{ step_interval() }} as end_at,
        count(*) as n_steps,
        avg(confidence) as mean_confidence,
        max(confidence) as peak_confidence,
        {{ xdb_first_by('step_at', 'confidence desc, step_at') }} as peak_at,  -- the first, if tied
        count(*) filter (where is_out_of_distribution) as ood_steps
    from runs_numbered
    group by household_id, predicted_class, model_version, run_number
    having count(*) * {{ grid_step_seconds() | trim }} >= case predicted_class
        {%- for cls, minutes in var('classified_min_minutes').items() %}
        when {{ cls }} then {{ minutes }} * 60
        {%- endfor %}
        else 0 end
    {%- if var('classifier_needs_evidence') %}
        and (predicted_class <> 2 or coalesce(bool_or(humidity_high_minutes > 0
                                                      and humidity_high_minutes >= humidity_long_minutes), false))
        and (predicted_class <> 1 or coalesce(bool_or(is_heating_evidence), true))
        and (predicted_class <> 3 or coalesce(max(fridge_off_minutes), 0) >= {{ var('fridge_max_off_minutes') }})
        and (predicted_class <> 4 or coalesce(bool_or(is_door_evidence), false))
    {%- endif %}

),

evidence as (

    select
        events.household_id,
        events.anomaly_class,
        events.start_at,
        {{ xdb_sorted_distinct_list('rule_events.rule_name') }} as rules_fired,
        bool_or(rule_events.anomaly_class = events.anomaly_class) as rule_agrees,
        max(rule_events.peak_severity) as rule_peak_severity,
        -- the strongest rule event's (ties broken by start and id: the same on every rebuild)
        {{ xdb_first_by('rule_events.observed_value', 'rule_events.peak_severity desc nulls last, rule_events.start_at, rule_events.event_id') }} as rule_observed_value,
        {{ xdb_first_by('rule_events.expected_value', 'rule_events.peak_severity desc nulls last, rule_events.start_at, rule_events.event_id') }} as rule_expected_value,
        {{ xdb_first_by('rule_events.event_id', 'rule_events.peak_severity desc nulls last, rule_events.start_at, rule_events.event_id') }} as rule_event_id
    from events
    inner join rule_events
        on rule_events.household_id = events.household_id
        and rule_events.start_at < events.end_at
        and events.start_at < rule_events.end_at
    group by events.household_id, events.anomaly_class, events.start_at

),

final as (

    select
        md5(events.household_id || '|' || {{ xdb_cast('events.anomaly_class', 'varchar') }} || '|' || {{ xdb_cast('events.start_at', 'varchar') }}
            || '|' || events.model_version) as anomaly_id,
        events.household_id,
        events.anomaly_class,
        classes.class_name,
        events.start_at,
        events.end_at,
        {{ xdb_date_diff('minute', 'events.start_at', 'events.end_at') }} as duration_minutes,
        events.n_steps,
        events.mean_confidence,
        events.peak_confidence,
        events.peak_at,
        events.model_version,
        events.ood_steps,
        coalesce(evidence.rules_fired, {{ xdb_empty_list() }}) as rules_fired,
        coalesce(evidence.rule_agrees, false) as rule_agrees,
        evidence.rule_peak_severity,
        evidence.rule_observed_value,
        evidence.rule_expected_value,
        evidence.rule_event_id
    from events
    inner join classes on events.anomaly_class = classes.anomaly_class
    left join evidence
        on events.household_id = evidence.household_id
        and events.anomaly_class = evidence.anomaly_class
        and events.start_at = evidence.start_at

)

select * from final
