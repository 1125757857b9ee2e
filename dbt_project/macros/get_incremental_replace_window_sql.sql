{#- Incremental strategy `replace_window`: delete the target's rows from where the build
    recomputed, then insert the new rows. Unlike delete+insert on a key, rows that a
    recomputation no longer produces (an event that merged into another, a flag that cleared)
    do not linger, so an incremental build gives the same rows as a full refresh.
    By default the window starts, per household, at its first new row: right for models that
    emit every step from their recompute start on. A model that emits only some steps (flagged
    ones) sets `replace_from='build_window'`: every row from recompute_from() on is replaced.
    Events (`replace_from='open_events'`, int_anomaly_runs) replace every event that ends
    after events_cut(): the ones new steps can still extend. -#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set time_column = config.get("window_column", "step_at") -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    {%- if config.get("replace_from") == "build_window" %}
    delete from {{ target }} where {{ time_column }} >= {{ recompute_from() }};
    {%- elif config.get("replace_from") == "open_events" %}
    delete from {{ target }} where {{ time_column }} > {{ events_cut() }};
    {%- else %}
    delete from {{ target }} as existing
    using (
        select household_id, min({{ time_column }}) as replace_from
        from {{ source }}
        group by household_id
    ) as recomputed
    where existing.household_id = recomputed.household_id
      and existing.{{ time_column }} >= recomputed.replace_from;
    {%- endif %}

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }} from {{ source }}
{%- endmacro %}
