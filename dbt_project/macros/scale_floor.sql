{#- The smallest spread a sensor is measured in. Known sensors: min_spread_fraction of their
    typical level (seed sensor_types). Unknown sensors: unknown_spread_fraction of their level, since
    a level far from zero (air pressure near 1013 hPa) says nothing about their noise. -#}
{% macro scale_floor(typical_level, level) -%}
    case
        when {{ typical_level }} is not null
            then {{ var('min_spread_fraction') }} * greatest(abs({{ typical_level }}), 1e-3)
        else {{ var('unknown_spread_fraction') }} * greatest(abs(coalesce({{ level }}, 0)), 1.0)
    end
{%- endmacro %}
