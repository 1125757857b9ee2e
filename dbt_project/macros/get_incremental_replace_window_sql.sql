{#- Incremental strategy `replace_window`: for every household in the new rows, delete the
    target's rows from that household's first new step onwards, then insert the new rows.
    Unlike delete+insert on a key, rows that a recomputation no longer produces (an event that
    merged into another, a step that moved) do not linger, so an incremental build gives the
    same rows as a full refresh. Models must emit every row from their recompute start on. -#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set time_column = config.get("window_column", "step_at") -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }} as existing
    using (
        select household_id, min({{ time_column }}) as replace_from
        from {{ source }}
        group by household_id
    ) as recomputed
    where existing.household_id = recomputed.household_id
      and existing.{{ time_column }} >= recomputed.replace_from;

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }} from {{ source }}
{%- endmacro %}
