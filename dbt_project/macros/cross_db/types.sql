{#- Casts. `xdb_cast(expr, 'varchar')` is `expr::varchar` on DuckDB and
    `cast(expr as string)` on Spark. Types are DuckDB's names; Spark's equivalents below.
    One difference the macro does not hide: a fractional number cast to an integer type is
    rounded by DuckDB and truncated by Spark (the models cast whole numbers only). -#}
{% macro xdb_cast(expr, type) -%}
    {{ return(adapter.dispatch('xdb_cast', 'homewatch')(expr, type)) }}
{%- endmacro %}

{% macro default__xdb_cast(expr, type) -%}
    cast({{ expr }} as {{ type }})
{%- endmacro %}

{% macro duckdb__xdb_cast(expr, type) -%}
    {{ expr }}::{{ type }}
{%- endmacro %}

{% macro spark__xdb_cast(expr, type) -%}
    {%- set spark_types = {'varchar': 'string', 'text': 'string', 'integer': 'int', 'ubigint': 'decimal(20, 0)',
                           'utinyint': 'smallint', 'timestamptz': 'timestamp'} -%}
    cast({{ expr }} as {{ spark_types.get(type | lower, type) }})
{%- endmacro %}
