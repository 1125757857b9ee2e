{#- The day partition a `replace_window` model needs on Spark (macros/cross_db/spark_replace_window.sql
    rewrites whole days). DuckDB needs none: there both macros render nothing, so the model's
    SQL and columns are what they were.
    In the model: `{{ config(partition_by=xdb_partition_by()) }}` and, after its last selected
    column, `{{ xdb_partition_day('step_at') }}` (Spark: `, to_date(step_at) as partition_day`). -#}
{% macro xdb_partition_by() -%}
    {{ return(adapter.dispatch('xdb_partition_by', 'homewatch')()) }}
{%- endmacro %}

{% macro default__xdb_partition_by() -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__xdb_partition_by() -%}
    {{ return(['partition_day']) }}
{%- endmacro %}

{% macro xdb_partition_day(column) -%}
    {{ return(adapter.dispatch('xdb_partition_day', 'homewatch')(column)) }}
{%- endmacro %}

{% macro default__xdb_partition_day(column) -%}
{%- endmacro %}

{% macro spark__xdb_partition_day(column) -%}
    , to_date({{ column }}) as partition_day
{%- endmacro %}
