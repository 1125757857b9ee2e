{#- Severity in [0, 1] of a score against its threshold: 0 below the threshold, 0.5 at it,
    rising linearly to 1 at twice the threshold. Null scores (warm-up, gaps) give 0. -#}
{% macro severity(score, threshold) -%}
    case
        when ({{ score }}) >= ({{ threshold }})
            then least({{ xdb_double('1.0') }}, {{ xdb_double('0.5') }} + {{ xdb_double('0.5') }} * (({{ score }}) - ({{ threshold }})) / ({{ threshold }}))
        else 0.0
    end
{%- endmacro %}
