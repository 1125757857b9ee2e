{#- The earliest reading of the newest landed batch (at most its last newest_batch_test_days
    days, so a batch holding months of history is checked in bounded time), as a timestamp
    literal: where a duplicate reading would arrive. Read when the calling test runs. -#}
{% macro newest_batch_start() -%}
    {%- if execute -%}
        {%- set result = run_query("select " ~ xdb_cast("greatest(min(min_reading_at), max(max_reading_at) - "
                                                       ~ xdb_interval(var('newest_batch_test_days'), 'days') ~ ")", "varchar")
                                   ~ " from " ~ source('raw', 'batches')
                                   ~ " where finished_at = (select max(finished_at) from " ~ source('raw', 'batches') ~ ")") -%}
        {%- set value = result.columns[0].values()[0] if result and result.rows | length > 0 else none -%}
        {%- if value -%}timestamp '{{ value }}'{%- else -%}{{ xdb_infinity() }}{%- endif -%}
    {%- else -%}
        {{ xdb_infinity() }}
    {%- endif -%}
{%- endmacro %}
