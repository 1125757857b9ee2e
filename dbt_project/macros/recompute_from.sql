{#- The first step an incremental build recomputes: the earliest reading among the batches
    landed since the last successful build (see int_build_window). Null when nothing is new,
    so incremental models then select no rows and change nothing. -#}
{% macro recompute_from() -%}
    (select min(recompute_from) from {{ ref('int_build_window') }})
{%- endmacro %}
