-- How well the rules alone find the simulator's injected anomalies, per split (train,
-- validation, test households) and class: the figures the classifier must beat. Long format,
-- one row per split, level, class and metric:
--   step level (no point-adjust): precision, recall, f1 of rule_class vs label_class per class
--   event level: recall (a ground-truth event is found when a rule event of its class
--     overlaps it), median detection delay in minutes; false-alarm events per
--     household-week (rule events overlapping no ground-truth anomaly of their class)
--   hard negatives: share of each kind of normal event (late shower, defrost, ...) during
--     which a rule fired with no real anomaly present

with

labels as (

    select * from {{ ref('int_steps_labelled') }}

),

households as (

    select * from {{ ref('dim_households') }}

),

truth as (

    select * from {{ ref('stg_raw__injected_events') }}

),

rule_events as (

    select * from {{ ref('fct_anomaly_events') }} where event_kind = 'anomaly'

),

classes as (

    select anomaly_class from {{ ref('anomaly_classes') }} where anomaly_class <> 0

),

step_counts as (

    select
        households.split,
        classes.anomaly_class,
        count(*) filter (where labels.rule_class = classes.anomaly_class
                         and labels.label_class = classes.anomaly_class) as true_positives,
        count(*) filter (where labels.rule_class = classes.anomaly_class) as predicted,
        count(*) filter (where labels.label_class = classes.anomaly_class) as actual
    from labels
    inner join households on labels.household_id = households.household_id
    cross join classes
    group by households.split, classes.anomaly_class

),

step_metrics as (

    select split, 'step' as level, anomaly_class, metric, value, actual as support
    from step_counts{{ xdb_unnest_pairs(["'precision'", "'recall'", "'f1'"],
                                        ['true_positives / nullif(predicted, 0)',
                                         'true_positives / nullif(actual, 0)',
                                         '2 * true_positives / nullif(predicted + actual, 0)'], 'metric', 'value') }}

),

truth_events_matched as (

    select
        households.split,
        truth.anomaly_class,
        truth.event_id,
        min(rule_events.start_at) as first_detected_at,
        truth.start_at
    from truth
    inner join households on truth.household_id = households.household_id
    left join rule_events
        on rule_events.household_id = truth.household_id
        and rule_events.anomaly_class = truth.anomaly_class
        and rule_events.start_at < truth.end_at
        and truth.start_at < rule_events.end_at
    where truth.event_kind = 'anomaly'
      -- only events the data covers: one ending after the last step cannot be judged yet
      and truth.end_at <= (select max(step_at) from labels)
    group by households.split, truth.anomaly_class, truth.event_id, truth.start_at

),

event_metrics as (

    select split, 'event' as level, anomaly_class, 'recall' as metric,
           avg(case when first_detected_at is not null then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end) as value,
           count(*) as support
    from truth_events_matched
    group by split, anomaly_class
    union all
    select split, 'event', anomaly_class, 'median_delay_minutes',
           {{ xdb_median('greatest(' ~ xdb_date_diff('minute', 'start_at', 'first_detected_at') ~ ', 0)') }},
           count(first_detected_at)
    from truth_events_matched
    group by split, anomaly_class

),

false_alarms as (

    select
        households.split,
        count(*) filter (where not exists (
            select 1 from truth
            where truth.event_kind = 'anomaly'
              and truth.household_id = rule_events.household_id
              and truth.anomaly_class = rule_events.anomaly_class
              and truth.start_at < rule_events.end_at
              and rule_events.start_at < truth.end_at
        )) as false_alarm_events
    from rule_events
    inner join households on rule_events.household_id = households.household_id
    where rule_events.household_id in (select household_id from labels)
    group by households.split

),

household_weeks as (

    select households.split, count(*) / ({{ xdb_double('7.0') }} * 24 * 60 / {{ step_minutes() }}) as household_weeks
    from labels
    inner join households on labels.household_id = households.household_id
    group by households.split

),

alarm_metrics as (

    select household_weeks.split, 'event' as level, 0 as anomaly_class,
           'false_alarms_per_household_week' as metric,
           coalesce(false_alarms.false_alarm_events, 0) / household_weeks.household_weeks as value,
           coalesce(false_alarms.false_alarm_events, 0) as support
    from household_weeks
    left join false_alarms on household_weeks.split = false_alarms.split

),

hard_negatives as (

    select
        households.split,
        truth.event_type,
        exists (
            select 1 from rule_events
            where rule_events.household_id = truth.household_id
              and rule_events.start_at < truth.end_at
              and truth.start_at < rule_events.end_at
        ) and not exists (
            select 1 from truth as anomalies
            where anomalies.event_kind = 'anomaly'
              and anomalies.household_id = truth.household_id
              and anomalies.start_at < truth.end_at
              and truth.start_at < anomalies.end_at
        ) as is_wrongly_flagged
    from truth
    inner join households on truth.household_id = households.household_id
    where truth.event_kind = 'normal'
      and truth.end_at <= (select max(step_at) from labels)

),

hard_negative_metrics as (

    select split, 'hard_negative:' || event_type as level, 0 as anomaly_class,
           'wrongly_flagged_share' as metric,
           avg(case when is_wrongly_flagged then {{ xdb_double('1.0') }} else {{ xdb_double('0.0') }} end) as value,
           count(*) as support
    from hard_negatives
    group by split, event_type

),

all_metrics as (

    select * from step_metrics
    union all select * from event_metrics
    union all select * from alarm_metrics
    union all select * from hard_negative_metrics

)

select
    'rules' as detector,
    split,
    level,
    anomaly_class,
    metric,
    round(value, 4) as value,
    support,
    {{ xdb_cast('now()', 'timestamp') }} as evaluated_at
from all_metrics
