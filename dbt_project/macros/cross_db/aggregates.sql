{#- Aggregates DuckDB has and Spark spells otherwise. Each works as a plain aggregate and, given
    `over` (a window name or a parenthesised window spec), as a window function. -#}

{#- The value of `value` on the row where `by` is largest (ties: any of them). -#}
{% macro xdb_arg_max(value, by) -%}
    {{ return(adapter.dispatch('xdb_arg_max', 'homewatch')(value, by)) }}
{%- endmacro %}

{% macro duckdb__xdb_arg_max(value, by) -%}
    arg_max({{ value }}, {{ by }})
{%- endmacro %}

{% macro spark__xdb_arg_max(value, by) -%}
    max_by({{ value }}, {{ by }})
{%- endmacro %}

{#- The value of `value` on the first row in `order_by` order, e.g.
    xdb_first_by('observed_value', 'severity desc nulls last, step_at'). DuckDB's own
    `first(value order by ...)`. Spark: min_by over a struct of the keys, each key led by an
    `is null` flag, so nulls sort last as DuckDB sorts them by default (nulls first if a key says
    so). A `desc` key must be numeric or a timestamp on Spark (it is negated). -#}
{% macro xdb_first_by(value, order_by) -%}
    {{ return(adapter.dispatch('xdb_first_by', 'homewatch')(value, order_by)) }}
{%- endmacro %}

{% macro duckdb__xdb_first_by(value, order_by) -%}
    first({{ value }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__xdb_first_by(value, order_by) -%}
    {%- set keys = [] -%}
    {%- for item in order_by.split(',') -%}
        {%- set words = item.strip().split() -%}
        {%- set lower = words | map('lower') | list -%}
        {%- set n = words | length - (2 if lower[-2:] in [['nulls', 'last'], ['nulls', 'first']] else 0) -%}
        {%- set nulls_first = lower[-2:] == ['nulls', 'first'] -%}
        {%- set desc = lower[n - 1] == 'desc' -%}
        {%- set expr = words[:n - 1] | join(' ') if lower[n - 1] in ['asc', 'desc'] else words[:n] | join(' ') -%}
        {%- do keys.append(('(' ~ expr ~ ') is not null' if nulls_first else '(' ~ expr ~ ') is null')) -%}
        {%- if desc -%}
            {%- do keys.append('-(case when typeof(' ~ expr ~ ') like \'timestamp%\' then unix_micros(cast(' ~ expr
                               ~ ' as timestamp)) else cast(' ~ expr ~ ' as double) end)') -%}
        {%- else -%}
            {%- do keys.append(expr) -%}
        {%- endif -%}
    {%- endfor -%}
    min_by({{ value }}, struct({{ keys | join(', ') }}))
{%- endmacro %}

{#- The median (interpolated between the two middle values, as DuckDB's median of numbers). -#}
{% macro xdb_median(expr, over=none) -%}
    {{ return(adapter.dispatch('xdb_median', 'homewatch')(expr, over)) }}
{%- endmacro %}

{% macro duckdb__xdb_median(expr, over=none) -%}
    median({{ expr }}){{ ' over ' ~ over if over }}
{%- endmacro %}

{% macro spark__xdb_median(expr, over=none) -%}
    {%- if over -%}
        {{ homewatch.spark_sorted_median('array_sort(collect_list(cast(' ~ expr ~ ' as double)) over ' ~ over ~ ')') }}
    {%- else -%}
        median({{ expr }})
    {%- endif -%}
{%- endmacro %}

{#- The median absolute deviation from the median (DuckDB's mad, unscaled). -#}
{% macro xdb_mad(expr, over=none) -%}
    {{ return(adapter.dispatch('xdb_mad', 'homewatch')(expr, over)) }}
{%- endmacro %}

{% macro duckdb__xdb_mad(expr, over=none) -%}
    mad({{ expr }}){{ ' over ' ~ over if over }}
{%- endmacro %}

{% macro spark__xdb_mad(expr, over=none) -%}
    {%- set values = 'collect_list(cast(' ~ expr ~ ' as double))' ~ (' over ' ~ over if over else '') -%}
    {%- set center = homewatch.spark_sorted_median('array_sort(' ~ values ~ ')') -%}
    {{ homewatch.spark_sorted_median('array_sort(transform(' ~ values ~ ', v -> abs(v - ' ~ center ~ ')))') }}
{%- endmacro %}

{#- Spark: the median of a sorted array of doubles (null when it is empty). -#}
{% macro spark_sorted_median(sorted) -%}
    (case when size({{ sorted }}) = 0 then cast(null as double)
          else (element_at({{ sorted }}, (size({{ sorted }}) + 1) div 2)
                + element_at({{ sorted }}, size({{ sorted }}) div 2 + 1)) / 2 end)
{%- endmacro %}

{#- An aggregate over the rows where cond holds: `xdb_filtered('count(*)', 'x > 0')`.
    Both engines take the standard FILTER clause; the macro keeps the door open for one that
    does not (a `case when` inside the aggregate). -#}
{% macro xdb_filtered(aggregate, cond) -%}
    {{ return(adapter.dispatch('xdb_filtered', 'homewatch')(aggregate, cond)) }}
{%- endmacro %}

{% macro default__xdb_filtered(aggregate, cond) -%}
    {{ aggregate }} filter (where {{ cond }})
{%- endmacro %}
