{#- The Spark target's sources: external tables over the Parquet landing zone that
    warehouse/spark_land.py writes (`<warehouse>.spark/lake/`), and the scorer's
    ml.predictions (written by models_ml/spark_score.py; created empty here so that staging
    builds before the first scoring). Run before a Spark build:
    `dbt run-operation spark_register_sources --target spark` (homewatch build --target spark
    does). Idempotent; new day partitions of raw.readings are picked up on every run. -#}
{% macro spark_register_sources() %}
    {%- if target.type != 'spark' -%}
        {{ exceptions.raise_compiler_error("spark_register_sources is for the spark target") }}
    {%- endif -%}
    {%- set lake = env_var('HOMEWATCH_SPARK_DIR', '../warehouse/data/homewatch.duckdb.spark') ~ '/lake' -%}
    {%- do run_query("create database if not exists raw") -%}
    {%- do run_query("create database if not exists ml") -%}
    {%- do run_query("create table if not exists raw.readings using parquet location '" ~ lake ~ "/raw/readings'") -%}
    {%- do run_query("alter table raw.readings recover partitions") -%}
    {%- for schema, table in [('raw', 'households'), ('raw', 'injected_events'), ('raw', 'batches'),
                              ('raw', 'quarantine'), ('ml', 'model_registry')] -%}
        {%- do run_query("create table if not exists " ~ schema ~ "." ~ table ~ " using parquet location '"
                         ~ lake ~ "/" ~ schema ~ "/" ~ table ~ "'") -%}
        {%- do run_query("refresh table " ~ schema ~ "." ~ table) -%}
    {%- endfor -%}
    {%- do run_query(spark_predictions_ddl()) -%}
    {{ log("Spark sources registered over " ~ lake, info=true) }}
{% endmacro %}

{#- ml.predictions on Spark: as the DuckDB table (warehouse/schema.py), partitioned by the
    model version and the step's day, so a rescored window replaces whole days
    (models_ml/spark_score.py keeps the same DDL). -#}
{% macro spark_predictions_ddl() -%}
    create table if not exists ml.predictions (
        run_id string, household_id string, step_at timestamp, predicted_class int,
        p_normal double, p_temperature_failure double, p_humidity_anomaly double, p_fridge_failure double,
        p_door_at_night double, p_fire double, confidence double, scored_at timestamp,
            is_out_of_distribution boolean, ood_score double,
        model_version string, step_date date
    ) using parquet partitioned by (model_version, step_date)
{%- endmacro %}
