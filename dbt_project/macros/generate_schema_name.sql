{#- Use a folder's schema name as it is (staging, intermediate, marts, ref) rather than
    dbt's default of prefixing the target schema: people query `marts.fct_anomaly_events`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
