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
                           'utinyint': 'smallint', 'timestamptz': 'timestamp',
                           'double[]': 'array<double>'} -%}
    cast({{ expr }} as {{ spark_types.get(type | lower, type) }})
{%- endmacro %}

{#- `union all by name` (DuckDB) matches the two sides' columns by name. Spark SQL has no such
    clause: there it is a plain (positional) `union all`, so a model using this macro must give
    both sides the same columns in the same order (the models build both sides from one
    template, or list the columns). -#}
{% macro xdb_union_all_by_name() -%}
    {{ return(adapter.dispatch('xdb_union_all_by_name', 'homewatch')()) }}
{%- endmacro %}

{% macro duckdb__xdb_union_all_by_name() -%}
    union all by name
{%- endmacro %}

{% macro spark__xdb_union_all_by_name() -%}
    union all
{%- endmacro %}

{#- `group by all` (DuckDB: every selected column that is not an aggregate). Spark SQL has no
    such clause: there the caller's list of those columns, `columns` (a comma-separated string). -#}
{% macro xdb_group_by_all(columns) -%}
    {{ return(adapter.dispatch('xdb_group_by_all', 'homewatch')(columns)) }}
{%- endmacro %}

{% macro duckdb__xdb_group_by_all(columns) -%}
    group by all
{%- endmacro %}

{% macro spark__xdb_group_by_all(columns) -%}
    group by {{ columns }}
{%- endmacro %}

{#- A fractional number literal typed as a double: `xdb_double('1.0')`. DuckDB renders it as
    written (its decimal literals average to a double); Spark types `1.0` as a decimal, whose
    avg keeps only 4 more digits (0.66667), so there it is `1.0D`. -#}
{% macro xdb_double(literal) -%}
    {{ return(adapter.dispatch('xdb_double', 'homewatch')(literal)) }}
{%- endmacro %}

{% macro duckdb__xdb_double(literal) -%}
    {{ literal }}
{%- endmacro %}

{% macro spark__xdb_double(literal) -%}
    {{ literal }}D
{%- endmacro %}

{#- The column of the integer table function range(start, stop): `range` on DuckDB, `id` on Spark
    (`select {{ xdb_range_column() }} as n from range(0, 10)`). -#}
{% macro xdb_range_column() -%}
    {{ return(adapter.dispatch('xdb_range_column', 'homewatch')()) }}
{%- endmacro %}

{% macro duckdb__xdb_range_column() -%}
    range
{%- endmacro %}

{% macro spark__xdb_range_column() -%}
    id
{%- endmacro %}

{#- least() of a list of expressions. DuckDB takes least(a) of one argument; Spark wants two or
    more, so there one expression stands alone. -#}
{% macro xdb_least(expressions) -%}
    {{ return(adapter.dispatch('xdb_least', 'homewatch')(expressions)) }}
{%- endmacro %}

{% macro default__xdb_least(expressions) -%}
    least({{ expressions | join(', ') }})
{%- endmacro %}

{% macro spark__xdb_least(expressions) -%}
    {%- if expressions | length == 1 -%}({{ expressions[0] }}){%- else -%}least({{ expressions | join(', ') }}){%- endif -%}
{%- endmacro %}

{#- The select list of the first side of xdb_union_all_by_name(): DuckDB's `*` (it matches the
    other side by name), Spark the columns in the other side's order (`columns`, a
    comma-separated string; a Spark table may carry its day partition, which `*` would add). -#}
{% macro xdb_star_by_name(columns) -%}
    {{ return(adapter.dispatch('xdb_star_by_name', 'homewatch')(columns)) }}
{%- endmacro %}

{% macro duckdb__xdb_star_by_name(columns) -%}
    *
{%- endmacro %}

{% macro spark__xdb_star_by_name(columns) -%}
    {{ columns }}
{%- endmacro %}

{#- An unsigned number from 8 hex digits (text): DuckDB ('0x' || hex)::ubigint, Spark conv(). -#}
{% macro xdb_hex_to_number(hex) -%}
    {{ return(adapter.dispatch('xdb_hex_to_number', 'homewatch')(hex)) }}
{%- endmacro %}

{% macro duckdb__xdb_hex_to_number(hex) -%}
    ('0x' || {{ hex }})::ubigint
{%- endmacro %}

{% macro spark__xdb_hex_to_number(hex) -%}
    cast(conv({{ hex }}, 16, 10) as bigint)
{%- endmacro %}

{#- The keyword of `rel.* exclude (col)`: DuckDB `exclude`, Spark `except`. -#}
{% macro xdb_exclude() -%}
    {{ return(adapter.dispatch('xdb_exclude', 'homewatch')()) }}
{%- endmacro %}

{% macro duckdb__xdb_exclude() -%}
    exclude
{%- endmacro %}

{% macro spark__xdb_exclude() -%}
    except
{%- endmacro %}
