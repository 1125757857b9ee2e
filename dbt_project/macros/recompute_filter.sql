{#- The incremental filter of a model's inputs and output: `where <column> >= recompute_from()`,
    with the rolling history before it when `context` (context_hours earlier: every rolling
    window fits within it), cut to a whole day when `to_date` (for date columns), `keyword`
    'and' to extend a where clause. Nothing on a first or full-refresh build. -#}
{% macro recompute_filter(column='step_at', context=false, to_date=false, keyword='where') -%}
    {%- if is_incremental() -%}
        {%- set start = recompute_from() -%}
        {%- if context -%}
            {%- set start = start ~ " - " ~ xdb_interval(var('context_hours'), 'hours') -%}
        {%- endif -%}
        {{ keyword }} {{ column }} >= {{ xdb_cast('(' ~ start ~ ')', 'date') if to_date else start }}
    {%- endif -%}
{%- endmacro %}
