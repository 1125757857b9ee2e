{#- `name as {{ cte_inline() }} (...)`: compute this CTE where each reference reads it, instead of
    storing its rows once for all of them. DuckDB (since 1.x) stores every CTE referenced more than
    once; for a CTE that is only a filtered scan of a big table (or a join to a small one) that
    costs a copy of millions of rows held in memory, where each reference could read the table
    itself with its own filter pushed down (only its sensor's rows, only its columns).
    On int_household_steps_pivoted this took the model from 50 to 36 CPU s at the default scale.
    DuckDB: `not materialized`; Spark inlines CTEs already (and has no such keyword): nothing. -#}
{% macro cte_inline() -%}
    {{ return(adapter.dispatch('cte_inline', 'homewatch')()) }}
{%- endmacro %}

{% macro default__cte_inline() -%}{%- endmacro %}

{% macro duckdb__cte_inline() -%}not materialized{%- endmacro %}

{#- `name as {{ cte_materialized() }} (...)`: compute this CTE once and store its rows before the
    query goes on (DuckDB: `materialized`), e.g. so that its joins' hash tables are freed before
    the next ones are built. Spark has no such keyword: nothing. -#}
{% macro cte_materialized() -%}
    {{ return(adapter.dispatch('cte_materialized', 'homewatch')()) }}
{%- endmacro %}

{% macro default__cte_materialized() -%}{%- endmacro %}

{% macro duckdb__cte_materialized() -%}materialized{%- endmacro %}
