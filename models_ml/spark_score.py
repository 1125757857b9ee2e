"""Scoring on the Spark side of a warehouse (`homewatch score --target spark`, docs/scale-out.md).

The same model and the same numbers as models_ml/score.py: each household's feature series goes
through `models_ml.export.series_logits` under ONNX Runtime, then the softmax and the decision
weights of the model. Here the households are scored in parallel by Spark: the features are
partitioned by household and sorted by step, and `mapInPandas` hands each task its partition;
the task scores one household's whole series at a time (a series is never cut between two
tasks), with an ONNX Runtime session made once per Python worker from the model's bytes.

What is scored, idempotently: per household, every day whose number of feature steps differs
from the number of this model version's predictions (a new household, new days, a day that
grew), and every day from the first step a build recomputed for a batch this model has not
scored after that build (intermediate.int_batches_processed on Spark: late readings change past
features, as models_ml/score.py). Whole days are rescored (their windows read the `window - 1`
steps before them, and the out-of-distribution check its trailing history, as DuckDB's scorer:
models_ml/ood.py) and written with `insert overwrite` into ml.predictions, partitioned by model
version and day, with dynamic partition overwrite: a rescored day replaces its rows, a re-run
finds nothing to do and writes nothing.

Before anything is written, the same checks as DuckDB's scorer (models_ml/score.py): the model's
grid step is the features' (read from the Spark table itself), the table has every column the
model was trained on, the model knows sensor availability, and every batch no model has scored
yet on Spark passed its newest quality check (expectations/gate.py; the checks are recorded in
the DuckDB warehouse, `homewatch check`) unless `force`. After the predictions, the run is
logged on the Spark side as DuckDB's is on its own: one row in ml.score_runs, and one row per
batch covered in ml.scored_batches (which makes a batch "scored" for the gate and the
recomputation above). Spark has no transaction over two tables: the ledger is written after the
predictions, so a run interrupted between the two leaves its batches unscored, and the next run
rescores their days (the same rows again) and writes the ledger.

The model is the DuckDB warehouse's production one (ml.model_registry there is the registry of
record; its ONNX file is read on the driver and shipped to the tasks).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from models_ml import package, registry
from models_ml.score import ScoringError, check_columns, check_step
from warehouse.connection import reader, utcnow
from warehouse.taxonomy import ANOMALY_CLASSES

FEATURES_TABLE = "marts.fct_ml_features"
PREDICTIONS_TABLE = "ml.predictions"
BATCHES_TABLE = "intermediate.int_batches_processed"
SCORE_RUNS_TABLE = "ml.score_runs"
SCORED_BATCHES_TABLE = "ml.scored_batches"
PROBABILITY_COLUMNS = [f"p_{name}" for _, name in sorted(ANOMALY_CLASSES.items())]
NON_FEATURES = ("household_id", "step_at", "rule_class", "partition_day")   # partition_day: the Spark table's day partition
_SESSIONS: dict[str, object] = {}   # per Python worker: model key -> ONNX Runtime session


class SparkScoringError(ScoringError):
    pass


@dataclass
class SparkScoreResult:
    run_id: str
    model_version: str
    steps_scored: int
    households: int
    days: int
    seconds: float
    anomalies: int = 0
    ood_steps: int = 0
    model_file: str = ""


def _production_model(db, version: str | None) -> tuple[str, dict, bytes, str]:
    with reader(db) as con:
        if version is None:
            row = registry.production(con)
            if row is None:
                raise SparkScoringError("no production model in ml.model_registry: train one with `homewatch train`, "
                                        "or import one with `homewatch model import PACKAGE`")
            version, folder = row[0], row[2]
        else:
            row = con.execute("select artifact_dir from ml.model_registry where model_version = ?", [version]).fetchone()
            if row is None:
                raise SparkScoringError(f"no model version {version!r} in ml.model_registry")
            folder = row[0]
    meta = registry.read_metadata(Path(folder))
    model_file = Path(folder) / meta.get("scoring_file", registry.ONNX_FP32)
    return version, meta, model_file.read_bytes(), model_file.name


def _session_from_bytes(key: str, model: bytes):
    if key not in _SESSIONS:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1     # Spark runs one task per core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        _SESSIONS[key] = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return _SESSIONS[key]


def _score_partition(model_key: str, model: bytes, columns: list[str], window: int, weights, version: str,
                     run_id: str, scored_at, ood_ref: dict | None = None):
    """The mapInPandas function: batches of one partition's rows (sorted by household, step;
    `since` is the first step to predict) in, predictions out, one household at a time."""
    import pandas as pd

    from models_ml import ood
    from models_ml.export import series_logits
    from models_ml.metrics import decide
    from models_ml.score import _softmax

    def one(frame: pd.DataFrame) -> pd.DataFrame:
        sess = _session_from_bytes(model_key, model)
        steps = frame["step_at"].to_numpy()
        X = np.empty((len(frame), len(columns)), dtype=np.float32)
        for j, c in enumerate(columns):
            X[:, j] = frame[c].to_numpy(dtype=np.float32, na_value=np.nan)
        keep = np.flatnonzero(steps >= frame["since"].iloc[0])
        probs = _softmax(series_logits(sess, X, window, first=int(keep[0]), columns=columns)) if len(keep) else \
            np.empty((0, len(PROBABILITY_COLUMNS)), dtype=np.float32)
        predicted = decide(probs, weights).astype(np.int32)
        # the out-of-distribution check, as DuckDB's scorer runs it (models_ml/ood.py): the rows
        # before `since` are the trailing history it reads
        ood_score = ood.scores(X, columns, ood_ref)[keep] if ood_ref else np.full(len(keep), np.nan)
        is_ood = ood.flags(ood_score, ood_ref) if ood_ref else np.zeros(len(keep), dtype=bool)
        out = pd.DataFrame({
            "run_id": run_id, "household_id": frame["household_id"].iloc[0], "step_at": steps[keep],
            "predicted_class": predicted,
            **{c: probs[:, j].astype(np.float64) for j, c in enumerate(PROBABILITY_COLUMNS)},
            "confidence": probs[np.arange(len(predicted)), predicted].astype(np.float64),
            "scored_at": scored_at,
            "is_out_of_distribution": is_ood, "ood_score": ood_score,
            "model_version": version,
        })
        out["step_date"] = pd.to_datetime(out["step_at"]).dt.date
        return out

    def run(batches):
        carry = None
        for batch in batches:
            frame = batch if carry is None else pd.concat([carry, batch], ignore_index=True)
            ids = frame["household_id"].to_numpy()
            last = ids[-1]
            done = frame[ids != last]
            carry = frame[ids == last]
            for _, household in done.groupby("household_id", sort=False):
                yield one(household)
        if carry is not None and len(carry):
            yield one(carry)

    return run


def _ddl(spark) -> None:
    """ml.predictions on Spark, as macros/cross_db/spark_sources.sql creates it, and the run log
    (as warehouse/schema.py's ml.score_runs and ml.scored_batches on DuckDB)."""
    spark.sql("create database if not exists ml")
    spark.sql(f"""
        create table if not exists {SCORE_RUNS_TABLE} (
            run_id string, model_version string, model_file string, started_at timestamp,
            finished_at timestamp, households int, steps_scored bigint, anomaly_steps bigint
        ) using parquet""")
    spark.sql(f"""
        create table if not exists {SCORED_BATCHES_TABLE} (
            batch_id string, model_version string, processed_at timestamp, run_id string, scored_at timestamp
        ) using parquet""")
    spark.sql(f"""
        create table if not exists {PREDICTIONS_TABLE} (
            run_id string, household_id string, step_at timestamp, predicted_class int,
            p_normal double, p_temperature_failure double, p_humidity_anomaly double, p_fridge_failure double,
            p_door_at_night double, p_fire double, confidence double, scored_at timestamp,
            is_out_of_distribution boolean, ood_score double,
            model_version string, step_date date
        ) using parquet partitioned by (model_version, step_date)""")


def _grid_step(spark, features) -> int | None:
    """The features' grid step in seconds: the gap between the first two steps of a household
    (every household has one row per step, gaps included); None with under two steps."""
    from pyspark.sql import functions as F

    household = features.agg(F.min("household_id")).collect()[0][0]
    if household is None:
        return None
    first = (features.where(F.col("household_id") == household).select(F.unix_timestamp("step_at").alias("t"))
             .orderBy("t").limit(2).collect())
    return int(first[1][0] - first[0][0]) if len(first) == 2 else None


def _batches(spark, version: str) -> tuple[list[tuple], set[str], object]:
    """The batches the Spark builds took in that this model has not scored after that build:
    [(batch_id, processed_at, recompute_from)], those no model has scored yet (they pass the
    quality gate), and the first day a build recomputed for them (None: none)."""
    rows = spark.sql(f"""
        select p.batch_id, p.processed_at, p.recompute_from,
               not exists (select 1 from {SCORED_BATCHES_TABLE} a where a.batch_id = p.batch_id) as is_new
        from {BATCHES_TABLE} p
        where not exists (select 1 from {SCORED_BATCHES_TABLE} s where s.batch_id = p.batch_id
                          and s.model_version = '{version}' and s.processed_at = p.processed_at)""").collect()
    recomputed = [r["recompute_from"] for r in rows if r["recompute_from"] is not None]
    return ([(r["batch_id"], r["processed_at"], r["recompute_from"]) for r in rows],
            {r["batch_id"] for r in rows if r["is_new"]}, min(recomputed).date() if recomputed else None)


def score_spark(db=None, version: str | None = None, progress: Callable[[str], None] = print,
                features_table: str = FEATURES_TABLE, force: bool = False) -> SparkScoreResult:
    """Score what is new on the warehouse's Spark side (see the module doc). Every batch no model
    has scored yet must have passed its newest quality check; `force` scores anyway and says why
    it would not (expectations/gate.py)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from expectations.gate import require_passed
    from warehouse.spark_query import spark_session

    started, started_at = time.monotonic(), utcnow()
    spark = spark_session(db)
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    for table in (features_table, BATCHES_TABLE):
        if not spark.catalog.tableExists(table):
            raise SparkScoringError(f"{table} does not exist on the Spark side: run `homewatch build --target "
                                    "spark` first")
    version, meta, model, model_file = _production_model(db, version)
    columns, window = meta["feature_columns"], int(meta["window"])
    features = spark.table(features_table).withColumn("step_at", F.col("step_at").cast("timestamp"))
    # the checks of DuckDB's scorer (models_ml/score.py), on the Spark table
    check_step(version, meta, _grid_step(spark, features))
    check_columns(version, columns, [c for c in features.columns if c not in NON_FEATURES])
    step_seconds = package.model_step_seconds(meta)
    _ddl(spark)
    batches, new_batches, recompute_day = _batches(spark, version)
    with reader(db) as con:   # the quality checks are recorded in the DuckDB warehouse
        for batch_id in sorted(new_batches):
            decision = require_passed(con, batch_id, force=force)   # raises QualityGateError unless forced
            if decision.forced:
                progress(decision.message)
    run_id = uuid.uuid4().hex[:12]
    # the household-days whose step count differs from this model's prediction count, and every
    # day from the first one a build recomputed for a batch this model has not scored since
    counts = (features.groupBy("household_id", F.to_date("step_at").alias("day")).count()
              .join(spark.table(PREDICTIONS_TABLE).where(F.col("model_version") == version)
                    .groupBy("household_id", F.col("step_date").alias("day")).agg(F.count("*").alias("scored")),
                    ["household_id", "day"], "left"))
    stale = F.col("scored").isNull() | (F.col("scored") != F.col("count"))
    if recompute_day is not None:
        stale = stale | (F.col("day") >= F.lit(recompute_day))
    days = counts.where(stale).cache()
    n_days = days.count()
    starts = days.groupBy("household_id").agg(F.min("day").alias("first_day"))
    todo = starts.collect()
    if not todo and not batches:     # nothing new: a re-run writes nothing at all
        days.unpersist()
        progress(f"nothing new to score with model {version}")
        return SparkScoreResult(run_id, version, 0, 0, 0, time.monotonic() - started, model_file=model_file)
    ood_ref = meta.get("ood") or None
    if ood_ref is None:
        progress(f"model {version} has no out-of-distribution ranges in its metadata (trained before they were "
                 "recorded): its predictions are not checked; retrain to check them")
    history = max(window, int(ood_ref["trailing_steps"]) if ood_ref else 0)   # steps read before a day, as DuckDB
    starts = (starts.withColumn("since", F.col("first_day").cast("timestamp"))
              .withColumn("context_from", F.col("since") - F.make_dt_interval(
                  F.lit(0), F.lit(0), F.lit(0), F.lit((history - 1) * step_seconds))))
    rows = (features.join(F.broadcast(starts), "household_id")
            .where(F.col("step_at") >= F.col("context_from"))
            .select("household_id", "step_at", "since", *[F.col(c).cast("float").alias(c) for c in columns])
            .repartition(max(1, spark.sparkContext.defaultParallelism), "household_id")
            .sortWithinPartitions("household_id", "step_at"))
    schema = T.StructType([
        T.StructField("run_id", T.StringType()), T.StructField("household_id", T.StringType()),
        T.StructField("step_at", T.TimestampType()), T.StructField("predicted_class", T.IntegerType()),
        *[T.StructField(c, T.DoubleType()) for c in PROBABILITY_COLUMNS],
        T.StructField("confidence", T.DoubleType()), T.StructField("scored_at", T.TimestampType()),
        T.StructField("is_out_of_distribution", T.BooleanType()), T.StructField("ood_score", T.DoubleType()),
        T.StructField("model_version", T.StringType()), T.StructField("step_date", T.DateType())])
    scored_at = utcnow()
    scorer = _score_partition(f"{version}:{len(model)}", model, columns, window, meta.get("decision_weights"),
                              version, run_id, scored_at, ood_ref)
    predictions = rows.mapInPandas(scorer, schema).cache()
    steps, anomalies, n_ood = predictions.agg(
        F.count("*"), F.count(F.when(F.col("predicted_class") != 0, 1)),
        F.count(F.when(F.col("is_out_of_distribution"), 1))).collect()[0]
    predictions.createOrReplaceTempView("_homewatch_new_predictions")
    try:
        spark.sql(f"insert overwrite table {PREDICTIONS_TABLE} partition (model_version, step_date) "
                  "select * from _homewatch_new_predictions")
    finally:
        spark.catalog.dropTempView("_homewatch_new_predictions")
        predictions.unpersist()
    days.unpersist()
    # the run log, after the predictions (see the module doc)
    if batches:
        spark.createDataFrame([(b, version, p, run_id, scored_at) for b, p, _ in batches],
                              spark.table(SCORED_BATCHES_TABLE).schema).write.insertInto(SCORED_BATCHES_TABLE)
    spark.createDataFrame([(run_id, version, model_file, started_at, utcnow(), len(todo), steps, anomalies)],
                          spark.table(SCORE_RUNS_TABLE).schema).write.insertInto(SCORE_RUNS_TABLE)
    if n_ood:
        progress(f"{n_ood:,} steps scored out of the model's training distribution (no alerts from them; "
                 "dbt var alert_out_of_distribution)")
    progress(f"scored {len(todo)} households on Spark ({steps:,} steps, {n_days} household-days, {anomalies:,} "
             f"anomalous) with model {version}; run {run_id} (ml.score_runs)")
    return SparkScoreResult(run_id, version, steps, len(todo), n_days, time.monotonic() - started, anomalies, n_ood,
                            model_file)
