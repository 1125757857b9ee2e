{#- The first step holding readings from the batches this build takes in (see
    int_build_window): models that need no context before new data (bucketing) start here,
    which lets DuckDB skip the row groups of older readings. -#}
{% macro first_new_step() -%}
    (select min(first_new_step) from {{ ref('int_build_window') }})
{%- endmacro %}
