{#- Events that end at or before this time can gain no step from the batches this build takes
    in (their next flagged step would be more than event_bridge_minutes away): recompute_from()
    less the bridge. See int_anomaly_runs. -#}
{% macro events_cut() -%}
    ({{ recompute_from() }} - {{ xdb_interval(var("event_bridge_minutes"), 'minutes') }})
{%- endmacro %}
