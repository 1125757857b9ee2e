"""Scoring on the Spark side of a warehouse (`homewatch score --target spark`, docs/scale-out.md).

The same model and the same numbers as models_ml/score.py: each household's feature series goes
through `models_ml.export.series_logits` under ONNX Runtime, then the softmax and the decision
weights of the model. Here the households are scored in parallel by Spark: the features are
partitioned by household and sorted by step, and `mapInPandas` hands each task its partition;
the task scores one household's whole series at a time (a series is never cut between two
tasks), with an ONNX Runtime session made once per Python worker from the model's bytes.

What is scored, idempotently: per household, every day whose number of feature steps differs
from the number of this model version's predictions (a new household, new days, a day that
grew). Whole days are rescored (their windows read the `window - 1` steps before them, and the
out-of-distribution check its trailing history, as DuckDB's scorer: models_ml/ood.py) and
written with `insert overwrite` into ml.predictions, partitioned by model version and day, with
dynamic partition overwrite: a rescored day replaces its rows, a re-run finds nothing to do and
writes nothing. Not yet here (DuckDB's scorer has them): rescoring the days a late reading
changed without changing their step count (that needs intermediate.int_batches_processed on
Spark), the quality gate, and ml.score_runs / ml.scored_batches.

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

from models_ml import ModelError, package, registry
from warehouse.connection import reader, utcnow
from warehouse.taxonomy import ANOMALY_CLASSES

FEATURES_TABLE = "marts.fct_ml_features"
PREDICTIONS_TABLE = "ml.predictions"
PROBABILITY_COLUMNS = [f"p_{name}" for _, name in sorted(ANOMALY_CLASSES.items())]
NON_FEATURES = ("household_id", "step_at", "rule_class", "partition_day")   # partition_day: the Spark table's day partition
_SESSIONS: dict[str, object] = {}   # per Python worker: model key -> ONNX Runtime session


class SparkScoringError(ModelError):
    pass


@dataclass
class SparkScoreResult:
    run_id: str
    model_version: str
    steps_scored: int
    households: int
    days: int
    seconds: float


def _production_model(db, version: str | None) -> tuple[str, dict, bytes]:
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
    return version, meta, model_file.read_bytes()


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
    """ml.predictions on Spark, as macros/cross_db/spark_sources.sql creates it."""
    spark.sql("create database if not exists ml")
    spark.sql(f"""
        create table if not exists {PREDICTIONS_TABLE} (
            run_id string, household_id string, step_at timestamp, predicted_class int,
            p_normal double, p_temperature_failure double, p_humidity_anomaly double, p_fridge_failure double,
            p_door_at_night double, p_fire double, confidence double, scored_at timestamp,
            is_out_of_distribution boolean, ood_score double,
            model_version string, step_date date
        ) using parquet partitioned by (model_version, step_date)""")


def score_spark(db=None, version: str | None = None, progress: Callable[[str], None] = print,
                features_table: str = FEATURES_TABLE) -> SparkScoreResult:
    """Score what is new on the warehouse's Spark side (see the module doc)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from warehouse.spark_query import spark_session

    started = time.monotonic()
    spark = spark_session(db)
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    if not spark.catalog.tableExists(features_table):
        raise SparkScoringError(f"{features_table} does not exist on the Spark side: run `homewatch build --target "
                                "spark` first")
    version, meta, model = _production_model(db, version)
    columns, window = meta["feature_columns"], int(meta["window"])
    features = spark.table(features_table).withColumn("step_at", F.col("step_at").cast("timestamp"))
    present = [c for c in features.columns if c not in NON_FEATURES]
    if present != columns:
        raise SparkScoringError(f"model {version} was trained on other feature columns than {features_table} has")
    step_seconds = package.model_step_seconds(meta)
    _ddl(spark)
    run_id = uuid.uuid4().hex[:12]
    # the household-days whose step count differs from this model's prediction count
    days = (features.groupBy("household_id", F.to_date("step_at").alias("day")).count()
            .join(spark.table(PREDICTIONS_TABLE).where(F.col("model_version") == version)
                  .groupBy("household_id", F.col("step_date").alias("day")).agg(F.count("*").alias("scored")),
                  ["household_id", "day"], "left")
            .where(F.col("scored").isNull() | (F.col("scored") != F.col("count"))))
    days = days.cache()
    n_days = days.count()
    starts = days.groupBy("household_id").agg(F.min("day").alias("first_day"))
    todo = starts.collect()
    if not todo:
        days.unpersist()
        progress(f"nothing new to score with model {version}")
        return SparkScoreResult(run_id, version, 0, 0, 0, time.monotonic() - started)
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
    scorer = _score_partition(f"{version}:{len(model)}", model, columns, window, meta.get("decision_weights"),
                              version, run_id, utcnow(), ood_ref)
    predictions = rows.mapInPandas(scorer, schema).cache()
    steps = predictions.count()
    predictions.createOrReplaceTempView("_homewatch_new_predictions")
    try:
        spark.sql(f"insert overwrite table {PREDICTIONS_TABLE} partition (model_version, step_date) "
                  "select * from _homewatch_new_predictions")
    finally:
        spark.catalog.dropTempView("_homewatch_new_predictions")
        predictions.unpersist()
    days.unpersist()
    progress(f"scored {len(todo)} households on Spark ({steps:,} steps, {n_days} household-days) with model {version}")
    return SparkScoreResult(run_id, version, steps, len(todo), n_days, time.monotonic() - started)
