-- Hand-written rows for the macros: g a group, ts a time (seconds off the minute on purpose), v a
-- value (a null too), k a key with a null and a tie.
{%- set rows = [
    ('a', '2025-01-06 00:07:30', 1.0, 3.0),
    ('a', '2025-01-06 00:59:59', 4.0, 1.0),
    ('a', '2025-01-06 01:00:00', 2.0, none),
    ('a', '2025-01-11 23:58:00', 10.0, 1.0),
    ('b', '2025-01-12 12:00:01', 5.0, 2.0),
    ('b', '2025-01-12 12:04:59', none, 7.0),
    ('b', '2025-01-13 00:00:00', 7.5, 0.5),
    ('b', '2025-01-13 03:30:00', -2.0, none),
] %}
{%- for g, ts, v, k in rows %}
select '{{ g }}' as g, cast('{{ ts }}' as timestamp) as ts,
       cast({{ v if v is not none else 'null' }} as double) as v,
       cast({{ k if k is not none else 'null' }} as double) as k
{%- if not loop.last %}
union all{% endif %}
{%- endfor %}
