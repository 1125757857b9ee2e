{#- The first step holding readings from the batches this build takes in (see
    int_build_window): models that need no context before new data (bucketing) start here. -#}
{% macro first_new_step() -%}
    {{ build_window_literal('first_new_step') }}
{%- endmacro %}
