{#- Passes when no row of the model shares its `columns` with a row of `other` (restricted by
    `other_where`, which may use var('build_window_start') as the test's `where` does). With
    both tables' keys tested unique, it makes their union's key unique: how the grid view
    (int_readings_gridded, readings plus missing steps) is tested without a group by over its
    30M rows (3.2 s at the default scale; this join builds on the missing steps, 0.16M rows). -#}
{% test disjoint_keys(model, other, columns, other_where='1 = 1') %}
{%- set other_where = resolve_build_window(other_where, other.database) %}
select {% for c in columns %}model_rows.{{ c }}{{ ", " if not loop.last }}{% endfor %}
from (select {{ columns | join(", ") }} from {{ model }}) as model_rows
inner join (select {{ columns | join(', ') }} from {{ other }} where {{ other_where }}) as other_rows
    on {% for c in columns %}model_rows.{{ c }} = other_rows.{{ c }}{{ " and " if not loop.last }}{% endfor %}
{% endtest %}
