{#- Lists (DuckDB) / arrays (Spark). -#}
{% macro xdb_list_contains(list, element) -%}
    {{ return(adapter.dispatch('xdb_list_contains', 'homewatch')(list, element)) }}
{%- endmacro %}

{% macro duckdb__xdb_list_contains(list, element) -%}
    list_contains({{ list }}, {{ element }})
{%- endmacro %}

{% macro spark__xdb_list_contains(list, element) -%}
    array_contains({{ list }}, {{ element }})
{%- endmacro %}

{#- An empty list of `type` elements (DuckDB infers it from the context: `[]`). -#}
{% macro xdb_empty_list(type='varchar') -%}
    {{ return(adapter.dispatch('xdb_empty_list', 'homewatch')(type)) }}
{%- endmacro %}

{% macro duckdb__xdb_empty_list(type='varchar') -%}
    []
{%- endmacro %}

{% macro spark__xdb_empty_list(type='varchar') -%}
    cast(array() as array<{{ 'string' if type in ('varchar', 'text') else type }}>)
{%- endmacro %}

{#- The distinct values of expr, sorted, as a list (an aggregate). -#}
{% macro xdb_sorted_distinct_list(expr) -%}
    {{ return(adapter.dispatch('xdb_sorted_distinct_list', 'homewatch')(expr)) }}
{%- endmacro %}

{% macro duckdb__xdb_sorted_distinct_list(expr) -%}
    list(distinct {{ expr }} order by {{ expr }})
{%- endmacro %}

{% macro spark__xdb_sorted_distinct_list(expr) -%}
    array_sort(collect_set({{ expr }}))
{%- endmacro %}

{#- The i-th element of a list, counted from 1 (DuckDB: list[i]; Spark's [] counts from 0). -#}
{% macro xdb_list_element(list, i) -%}
    {{ return(adapter.dispatch('xdb_list_element', 'homewatch')(list, i)) }}
{%- endmacro %}

{% macro duckdb__xdb_list_element(list, i) -%}
    {{ list }}[{{ i }}]
{%- endmacro %}

{% macro spark__xdb_list_element(list, i) -%}
    element_at({{ list }}, {{ i }})
{%- endmacro %}

{#- A list literal as DuckDB writes it, "['a', 'b']": as written on DuckDB, array('a', 'b') on Spark. -#}
{% macro xdb_list_literal(text) -%}
    {{ return(adapter.dispatch('xdb_list_literal', 'homewatch')(text)) }}
{%- endmacro %}

{% macro duckdb__xdb_list_literal(text) -%}
    {{ text }}
{%- endmacro %}

{% macro spark__xdb_list_literal(text) -%}
    array({{ (text | trim)[1:-1] }})
{%- endmacro %}

{#- One row per (name, value) pair for each row of the relation before it: write it right after
    that relation, `from t{{ xdb_unnest_pairs(["'a'", "'b'"], ['x', 'y'], 'metric', 'value') }}`.
    DuckDB: `, lateral (select unnest([names]) as metric, unnest([values]) as value)`; Spark:
    `lateral view inline(array(struct(..), ..))`. -#}
{% macro xdb_unnest_pairs(names, values, name_column, value_column) -%}
    {{ return(adapter.dispatch('xdb_unnest_pairs', 'homewatch')(names, values, name_column, value_column)) }}
{%- endmacro %}

{% macro duckdb__xdb_unnest_pairs(names, values, name_column, value_column) -%}
,
    lateral (
        select unnest([{{ names | join(', ') }}]) as {{ name_column }},
               unnest([
                   {{ values | join(',\n                   ') }}
               ]) as {{ value_column }}
    )
{%- endmacro %}

{% macro spark__xdb_unnest_pairs(names, values, name_column, value_column) -%}
{%- set pairs = [] -%}
{%- for i in range(names | length) -%}
    {%- do pairs.append('named_struct(\'' ~ name_column ~ '\', ' ~ names[i] ~ ', \'' ~ value_column ~ '\', cast(' ~ values[i] ~ ' as double))') -%}
{%- endfor %}
    lateral view inline(array({{ pairs | join(', ') }})) unnested_pairs as {{ name_column }}, {{ value_column }}
{%- endmacro %}
