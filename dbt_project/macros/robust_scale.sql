{#- The scale a step's departure is measured in, for point outliers and spikes: the rolling
    3 h robust spread as a std (robust_std_3h: the interquartile range / 1.349, or 1.4826 x the
    MAD on grids too coarse for the IQR; int_sensor_features_rolled), but never below
    swing_std_share of the 24 h std (so a signal that swings by design, a cycling fridge or a
    shower, is not an outlier at every swing) nor below a floor (so flat signals never divide
    by ~0). Used by the baselines' first pass and by the flags, which must agree. -#}
{% macro robust_scale(robust_std_3h, std_24h, typical_level, mean_24h) -%}
    greatest(
        coalesce({{ robust_std_3h }}, 0),
        {{ var('swing_std_share') }} * coalesce({{ std_24h }}, 0),
        {{ scale_floor(typical_level, mean_24h) }}
    )
{%- endmacro %}
