{#- The `replace_window` incremental strategy on Spark (its DuckDB version, unchanged:
    macros/get_incremental_replace_window_sql.sql). Spark has no `delete ... using` on Parquet
    tables, so the window is replaced a partition at a time: the model is partitioned by a day
    column (config `partition_by`, e.g. ['step_date'] with `to_date(step_at) as step_date`), and
    `insert overwrite` with dynamic partition overwrite rewrites exactly the days the window
    touches: the new rows, plus the target's rows of those days that lie before the window
    (kept as they were). A day whose rows all fall in the window and that gets no new row is
    dropped (ALTER TABLE ... DROP PARTITION), so rows a recomputation no longer produces do not
    linger: incremental == full refresh, as on DuckDB.

    dbt-spark accepts only its own strategies; the two dbt-spark macros below are overridden to
    add this one and hand every other strategy to dbt-spark's own. -#}

{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'replace_window' -%}
        {%- if not config.get('partition_by') -%}
            {{ exceptions.raise_compiler_error(
                "incremental_strategy 'replace_window' on Spark needs partition_by (a day column, e.g. "
                ~ "partition_by=['step_date'] with to_date(step_at) as step_date): it replaces whole days") }}
        {%- endif -%}
        {{ return(raw_strategy) }}
    {%- endif -%}
    {{ return(dbt.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) }}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy == 'replace_window' -%}
        {{ spark__get_incremental_replace_window_sql(source, target) }}
    {%- else -%}
        {{ dbt.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) }}
    {%- endif -%}
{% endmacro %}

{#- The condition on the target's rows (alias `existing`) that the DuckDB version deletes. -#}
{% macro spark_replace_window_condition(source) -%}
    {%- set time_column = config.get("window_column", "step_at") -%}
    {%- if config.get("replace_from") == "build_window" -%}
    existing.{{ time_column }} >= {{ recompute_from() }}
    {%- elif config.get("replace_from") == "open_events" -%}
    existing.{{ time_column }} > {{ events_cut() }}
    {%- else -%}
    exists (select 1 from (select household_id, min({{ time_column }}) as replace_from from {{ source }}
                           group by household_id) as recomputed
            where existing.household_id = recomputed.household_id
              and existing.{{ time_column }} >= recomputed.replace_from)
    {%- endif -%}
{%- endmacro %}

{% macro spark__get_incremental_replace_window_sql(source, target) %}
    {%- set partition_by = config.get('partition_by') -%}
    {%- set partition_by = [partition_by] if partition_by is string else partition_by -%}
    {%- set part_csv = partition_by | join(', ') -%}
    {%- set dest_columns = adapter.get_columns_in_relation(target) -%}
    {%- set dest_cols_csv = dest_columns | map(attribute='quoted') | join(', ') -%}
    {%- set replaced = spark_replace_window_condition(source) -%}
    {%- set touched -%}
        select distinct {{ part_csv }} from {{ target }} as existing where {{ replaced }}
        union
        select distinct {{ part_csv }} from {{ source }}
    {%- endset -%}
    {#- days that lose every row and get none: dropped, as dynamic overwrite leaves them alone -#}
    {%- if execute -%}
        {%- set emptied = run_query(
            "select " ~ part_csv ~ " from " ~ target ~ " as existing where " ~ replaced
            ~ " except select " ~ part_csv ~ " from " ~ target ~ " as existing where not (" ~ replaced ~ ")"
            ~ " except select " ~ part_csv ~ " from " ~ source) -%}
        {%- for row in emptied.rows -%}
            {%- set spec = [] -%}
            {%- for col in partition_by -%}
                {%- do spec.append(col ~ " = '" ~ row[loop.index0] ~ "'") -%}
            {%- endfor -%}
            {%- do run_query("alter table " ~ target ~ " drop if exists partition (" ~ spec | join(', ') ~ ")") -%}
        {%- endfor -%}
    {%- endif %}
    insert overwrite table {{ target }}
    partition ({{ part_csv }})
    select {{ dest_cols_csv }} from {{ source }}
    union all
    select {{ dest_cols_csv }} from {{ target }} as existing
    where ({{ part_csv }}) in ({{ touched }})
      and not ({{ replaced }})
{% endmacro %}
