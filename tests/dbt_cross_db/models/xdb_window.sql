select
    g,
    ts,
    {{ xdb_median('v', 'w3') }} as v_median_3,
    {{ xdb_mad('v', 'w3') }} as v_mad_3,
    {%- for i in [1, 2, 3] %}
    {{ xdb_list_element('(' ~ xdb_quantiles('v', '0.25, 0.5, 0.75', over='w3') ~ ')', i) }} as v_quartile_{{ i }}_3,
    {%- endfor %}
    avg(v) over (partition by g order by ts range between {{ xdb_interval(1, 'hour') }} preceding and current row)
        as v_mean_1h
from {{ ref('xdb_input') }}
window w3 as (partition by g order by ts rows between 2 preceding and current row)
