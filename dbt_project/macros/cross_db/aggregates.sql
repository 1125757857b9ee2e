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
    xdb_first_by('observed_value', 'severity desc nulls last, step_at'): DuckDB's own
    `first(value order by ...)`. Spark: the rows' (value, keys) structs sorted by a comparator
    that follows each key's direction, nulls last unless a key says `nulls first` (DuckDB's
    default order puts nulls last both ways). -#}
{% macro xdb_first_by(value, order_by) -%}
    {{ return(adapter.dispatch('xdb_first_by', 'homewatch')(value, order_by)) }}
{%- endmacro %}

{% macro duckdb__xdb_first_by(value, order_by) -%}
    first({{ value }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__xdb_first_by(value, order_by) -%}
    {%- set fields = ['(' ~ value ~ ') as v'] -%}
    {%- set rules = [] -%}
    {%- for item in order_by.split(',') -%}
        {%- set words = item.strip().split() -%}
        {%- set lower = words | map('lower') | list -%}
        {%- set nulls = lower[-1] if lower[-2:] in [['nulls', 'last'], ['nulls', 'first']] else 'last' -%}
        {%- set words = words[:-2] if lower[-2:] in [['nulls', 'last'], ['nulls', 'first']] else words -%}
        {%- set desc = (words[-1] | lower) == 'desc' -%}
        {%- set words = words[:-1] if (words[-1] | lower) in ['asc', 'desc'] else words -%}
        {%- set k = 'k' ~ loop.index0 -%}
        {%- do fields.append('(' ~ words | join(' ') ~ ') as ' ~ k) -%}
        {%- set n = '1' if nulls == 'last' else '-1' -%}
        {%- set lt = '1' if desc else '-1' -%}
        {%- do rules.append('when l.' ~ k ~ ' is null and r.' ~ k ~ ' is not null then ' ~ n
                            ~ ' when l.' ~ k ~ ' is not null and r.' ~ k ~ ' is null then ' ~ ('-1' if n == '1' else '1')
                            ~ ' when l.' ~ k ~ ' < r.' ~ k ~ ' then ' ~ lt
                            ~ ' when l.' ~ k ~ ' > r.' ~ k ~ ' then ' ~ ('-1' if lt == '1' else '1')) -%}
    {%- endfor -%}
    element_at(array_sort(collect_list(struct({{ fields | join(', ') }})),
                          (l, r) -> case {{ rules | join(' ') }} else 0 end), 1).v
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
        {{ homewatch.spark_list_median(homewatch.spark__xdb_list(expr, over)) }}
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
    {{ homewatch.spark_list_mad(homewatch.spark__xdb_list(expr, over)) }}
{%- endmacro %}

{#- The values of expr as a list (nulls left out of what the list_ macros read), optionally `over`
    a window, for several statistics of one set of rows: read them with xdb_list_median and
    xdb_list_mad (null for an empty list, as the aggregates over no rows). DuckDB's windowed
    median and mad each walk the frame on their own: int_baselines_hour_of_day's three medians
    and three MADs over frames of about 20 days took 31 CPU s at the default scale, 18 from three
    lists, the same rows. Over frames of tens of values or more a list costs more than the
    window (the rolling quartiles' 36 steps: 50 CPU s against 15). -#}
{% macro xdb_list(expr, over=none) -%}
    {{ return(adapter.dispatch('xdb_list', 'homewatch')(expr, over)) }}
{%- endmacro %}

{% macro duckdb__xdb_list(expr, over=none) -%}
    list({{ expr }}){{ ' over ' ~ over if over }}
{%- endmacro %}

{#- Spark's collect_list leaves the nulls out itself. -#}
{% macro spark__xdb_list(expr, over=none) -%}
    collect_list(cast({{ expr }} as double)){{ ' over ' ~ over if over }}
{%- endmacro %}

{% macro xdb_list_median(values) -%}
    {{ return(adapter.dispatch('xdb_list_median', 'homewatch')(values)) }}
{%- endmacro %}

{% macro duckdb__xdb_list_median(values) -%}
    list_median({{ values }})
{%- endmacro %}

{% macro spark__xdb_list_median(values) -%}
    {{ homewatch.spark_list_median(values) }}
{%- endmacro %}

{% macro xdb_list_mad(values) -%}
    {{ return(adapter.dispatch('xdb_list_mad', 'homewatch')(values)) }}
{%- endmacro %}

{% macro duckdb__xdb_list_mad(values) -%}
    list_aggregate({{ values }}, 'mad')
{%- endmacro %}

{% macro spark__xdb_list_mad(values) -%}
    {{ homewatch.spark_list_mad(values) }}
{%- endmacro %}

{#- Spark: the MAD of an array of doubles. The values are bound once to a lambda variable
    (aggregate over a one-element array is Spark's `let`), then the median of their distances to
    their median. -#}
{% macro spark_list_mad(values) -%}
    aggregate(array({{ values }}), cast(null as double),
              (acc_, vals_) -> {{ homewatch.spark_sorted_median(
                  'array_sort(transform(vals_, x_ -> abs(x_ - ' ~ homewatch.spark_sorted_median('array_sort(vals_)', 'm1_')
                  ~ ')))', 'm2_') }})
{%- endmacro %}

{#- Spark: the median of an array of doubles (null when it is empty). -#}
{% macro spark_list_median(values) -%}
    aggregate(array({{ values }}), cast(null as double), (acc_, vals_) -> {{ homewatch.spark_sorted_median('array_sort(vals_)', 'm_') }})
{%- endmacro %}

{#- Spark: the median of a sorted array expression, bound to the lambda variable `name`. -#}
{% macro spark_sorted_median(sorted, name) -%}
    aggregate(array({{ sorted }}), cast(null as double), (acc_{{ name }}, {{ name }}) ->
        case when size({{ name }}) = 0 then cast(null as double)
             else (element_at({{ name }}, cast((size({{ name }}) + 1) div 2 as int))
                   + element_at({{ name }}, cast(size({{ name }}) div 2 + 1 as int))) / 2 end)
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

{#- The last non-null value of expr in a window frame: `xdb_last_value_ignore_nulls('x')` then
    ` over w`. DuckDB: last_value(x ignore nulls); Spark: last_value(x, true). -#}
{% macro xdb_last_value_ignore_nulls(expr) -%}
    {{ return(adapter.dispatch('xdb_last_value_ignore_nulls', 'homewatch')(expr)) }}
{%- endmacro %}

{% macro duckdb__xdb_last_value_ignore_nulls(expr) -%}
    last_value({{ expr }} ignore nulls)
{%- endmacro %}

{% macro spark__xdb_last_value_ignore_nulls(expr) -%}
    last_value({{ expr }}, true)
{%- endmacro %}

{#- Exact quantiles, interpolated (DuckDB's quantile_cont, Spark's percentile: both linear
    between the two nearest values), as a list: `xdb_quantiles('x', '0.25, 0.75')`, optionally
    `over` a window. Read the list with xdb_list_element (1-based on both). -#}
{% macro xdb_quantiles(expr, quantiles, over=none) -%}
    {{ return(adapter.dispatch('xdb_quantiles', 'homewatch')(expr, quantiles, over)) }}
{%- endmacro %}

{% macro duckdb__xdb_quantiles(expr, quantiles, over=none) -%}
    quantile_cont({{ expr }}, [{{ quantiles }}]){{ ' over ' ~ over if over }}
{%- endmacro %}

{% macro spark__xdb_quantiles(expr, quantiles, over=none) -%}
    percentile({{ expr }}, array({{ quantiles }})){{ ' over ' ~ over if over }}
{%- endmacro %}

{#- One exact quantile, interpolated: DuckDB quantile_cont(expr, q), Spark percentile(expr, q). -#}
{% macro xdb_quantile(expr, quantile, over=none) -%}
    {{ return(adapter.dispatch('xdb_quantile', 'homewatch')(expr, quantile, over)) }}
{%- endmacro %}

{% macro duckdb__xdb_quantile(expr, quantile, over=none) -%}
    quantile_cont({{ expr }}, {{ quantile }}){{ ' over ' ~ over if over }}
{%- endmacro %}

{% macro spark__xdb_quantile(expr, quantile, over=none) -%}
    percentile({{ expr }}, {{ quantile }}){{ ' over ' ~ over if over }}
{%- endmacro %}
