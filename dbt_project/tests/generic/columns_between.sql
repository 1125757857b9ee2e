{#- Passes when every non-null value of each of `columns` lies in [min_value, max_value]: one test
    (one scan, one dbt node) for a group of columns that share a range. -#}
{% test columns_between(model, columns, min_value, max_value) %}
select *
from {{ model }}
where {% for c in columns %}{{ c }} < {{ min_value }} or {{ c }} > {{ max_value }}{{ " or " if not loop.last }}{% endfor %}
{% endtest %}
