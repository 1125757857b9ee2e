{#- An as-of left join: each row of `left` (a relation or CTE name, unique on `keys` and
    `left_time`) gets the row of `right` with the same `keys` and the latest `right_time` such
    that `left_expr op right.right_time` (op '>=' or '>'); no match, nulls. The right side is
    aliased `alias`, as in a plain join.
    DuckDB: its own `asof left join`. Spark SQL has none: the two sides' times are put in one
    sequence per key (union all) and a running last_value picks each left row's match (right rows
    at an equal time sort before a left row for '>=', after it for '>'), then two equality joins.
    One sort per key, no inequality join, so it scales as the DuckDB one does. -#}
{% macro xdb_asof_left_join(left, left_time, right, alias, keys, left_expr, op, right_time) -%}
    {{ return(adapter.dispatch('xdb_asof_left_join', 'homewatch')(left, left_time, right, alias, keys, left_expr, op, right_time)) }}
{%- endmacro %}

{% macro duckdb__xdb_asof_left_join(left, left_time, right, alias, keys, left_expr, op, right_time) -%}
    asof left join {{ right }} as {{ alias }}
        on {% for k in keys %}{{ left }}.{{ k }} = {{ alias }}.{{ k }}
        and {% endfor %}{{ left_expr }} {{ op }} {{ alias }}.{{ right_time }}
{%- endmacro %}

{% macro spark__xdb_asof_left_join(left, left_time, right, alias, keys, left_expr, op, right_time) -%}
    {%- if op not in ('>=', '>') -%}
        {{ exceptions.raise_compiler_error("xdb_asof_left_join: op must be '>=' or '>', not " ~ op) }}
    {%- endif -%}
    {%- set k = keys | join(', ') -%}
    left join (
        select {{ k }}, target_at, matched_at
        from (
            select
                {{ k }},
                target_at,
                is_right,
                last_value(case when is_right = 1 then key_at end, true) over (
                    partition by {{ k }} order by key_at, is_right {{ 'desc' if op == '>=' else 'asc' }}
                    rows between unbounded preceding and current row) as matched_at
            from (
                select {{ k }}, {{ left }}.{{ left_time }} as target_at, {{ left_expr }} as key_at, 0 as is_right
                from {{ left }}
                union all
                select {{ k }}, null as target_at, {{ right_time }} as key_at, 1 as is_right
                from {{ right }}
            ) as asof_sequence
        ) as asof_ordered
        where is_right = 0
    ) as {{ alias }}_asof
        on {% for key in keys %}{{ left }}.{{ key }} = {{ alias }}_asof.{{ key }}
        and {% endfor %}{{ left }}.{{ left_time }} = {{ alias }}_asof.target_at
    left join {{ right }} as {{ alias }}
        on {% for key in keys %}{{ alias }}_asof.{{ key }} = {{ alias }}.{{ key }}
        and {% endfor %}{{ alias }}_asof.matched_at = {{ alias }}.{{ right_time }}
{%- endmacro %}
