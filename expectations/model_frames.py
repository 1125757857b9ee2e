"""Bounded frames of what dbt and the scorer made of a batch, computed in SQL.

Only the batch's steps are read (from an hour before its first reading to its last), and
DuckDB aggregates them to one row per household and day, so a suite sees a few hundred rows
whatever the size of the tables.
"""
from __future__ import annotations

import pandas as pd

from expectations import config
from expectations.batches import Batch
from warehouse.connection import has_table

# Steps of a batch: readings are bucketed into grid steps that start up to one step (at most an
# hour) before the first reading; re-reading a few already-checked steps is harmless.
WINDOW_LEAD = "interval 1 hour"


def columns_of(con, qualified: str) -> list[str]:
    schema, name = qualified.split(".")
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, name]).fetchall()]


def batch_is_built(con, batch: Batch) -> bool:
    """Whether a completed dbt build has taken this batch in (dbt records it in int_batches_processed)."""
    if not has_table(con, "intermediate", "int_batches_processed"):
        return False
    return bool(con.execute("select count(*) from intermediate.int_batches_processed where batch_id = ?",
                            [batch.batch_id]).fetchall()[0][0])


def _score_columns(check: config.ModelCheck, columns: list[str]) -> list[str]:
    if isinstance(check.scores, str):
        return [c for c in columns if c.endswith(check.scores)]
    return [c for c in check.scores if c in columns]


def _model_sql(check: config.ModelCheck, columns: list[str]) -> str:
    """Per household and day: rows, duplicate keys, grid gaps, nulls after warm-up, score range."""
    name = check.table.split(".")[1]
    not_null = [c for c in (check.not_null or columns) if c in columns]
    scores = _score_columns(check, columns)
    is_null = " or ".join(f'"{c}" is null' for c in not_null) or "false"
    null_names = ", ".join(
        f"""case when count(*) filter (where after_warmup and "{c}" is null) > 0 then '{c}' end""" for c in not_null)
    keys = ", ".join(check.keys)
    return f"""
    with
    firsts as (select household_id, min(step_at) as first_step from {check.table} group by all),
    batch_rows as (
        select t.*, t.step_at >= firsts.first_step + interval {config.WARMUP_HOURS} hour as after_warmup
        from {check.table} as t join firsts using (household_id)
        where t.step_at >= $first_at::timestamp - {WINDOW_LEAD} and t.step_at <= $last_at
    ),
    steps as (select distinct household_id, step_at from batch_rows),
    step_size as (
        select coalesce(min(gap_s), 300) as step_s from (
            select epoch(step_at) - epoch(lag(step_at) over (partition by household_id order by step_at)) as gap_s
            from steps) where gap_s > 0
    )
    select
        household_id, step_at::date as day,
        count(*) as {name}__rows,
        count(*) - count(distinct ({keys})) as {name}__duplicates,
        {"round((epoch(max(step_at)) - epoch(min(step_at))) / (select step_s from step_size)) + 1 - count(distinct step_at)"
         if check.gapless else "0"} as {name}__missing_steps,
        count(*) filter (where after_warmup and ({is_null})) as {name}__rows_with_nulls,
        concat_ws(', ', {null_names or "null"}) as {name}__null_columns,
        least({", ".join(f'min("{c}")' for c in scores) or "0"}) as {name}__min_score,
        greatest({", ".join(f'max("{c}")' for c in scores) or "0"}) as {name}__max_score
    from batch_rows
    group by all
    """


STAGED_SQL = f"""
select household_id, reading_at::date as day,
    count(*) - count(distinct (sensor, reading_at)) as staged__duplicates
from {config.STAGED_READINGS}
where reading_at >= $first_at and reading_at <= $last_at
group by all
"""


def features_frame(con, batch: Batch) -> pd.DataFrame | None:
    """One row per household and day of the batch's steps in every checked dbt model; None if not built."""
    if batch.is_empty or not batch_is_built(con, batch):
        return None
    params = {"first_at": batch.first_reading_at, "last_at": batch.last_reading_at}
    frame = con.execute(STAGED_SQL, params).df()
    for check in config.MODEL_CHECKS:
        if not has_table(con, *check.table.split(".")):
            continue
        part = con.execute(_model_sql(check, columns_of(con, check.table)), params).df()
        frame = frame.merge(part, on=["household_id", "day"], how="outer")
    return frame.sort_values(["household_id", "day"]).reset_index(drop=True)


def _predictions_sql() -> str:
    probs = [*config.PROBABILITY_COLUMNS, "confidence"]
    keys = ["household_id", "step_at", "model_version", "predicted_class", *probs]
    return f"""
    select
        household_id, step_at::date as day, model_version,
        count(*) as n_rows,
        count(*) - count(distinct step_at) as n_duplicates,
        count(*) filter (where {" or ".join(f"{c} is null" for c in keys)}) as n_rows_with_nulls,
        least({", ".join(f"min({c})" for c in probs)}) as min_probability,
        greatest({", ".join(f"max({c})" for c in probs)}) as max_probability,
        max(abs({" + ".join(config.PROBABILITY_COLUMNS)} - 1)) as max_sum_error,
        min(predicted_class) as min_class,
        max(predicted_class) as max_class
    from {config.PREDICTIONS_TABLE}
    where step_at >= $first_at::timestamp - {WINDOW_LEAD} and step_at <= $last_at
    group by all
    order by all
    """


def predictions_frame(con, batch: Batch) -> pd.DataFrame | None:
    """One row per household, day and model version of the batch's predictions; None if there are none."""
    if batch.is_empty or not has_table(con, *config.PREDICTIONS_TABLE.split(".")):
        return None
    frame = con.execute(_predictions_sql(),
                        {"first_at": batch.first_reading_at, "last_at": batch.last_reading_at}).df()
    return frame if len(frame) else None
