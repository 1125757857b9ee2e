{#- The first step an incremental build recomputes: the earliest reading among the batches
    landed since the last successful build (see int_build_window), one step early. Resolved to
    a literal when the model runs (int_build_window is built before any incremental model), so
    DuckDB can skip row groups by their min/max; a subquery would scan everything. With nothing
    new it is a time after all data, so incremental models select no rows and change nothing. -#}
{% macro recompute_from() -%}
    {{ build_window_literal('recompute_from') }}
{%- endmacro %}
