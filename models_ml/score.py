"""Batch scoring with ONNX Runtime only (torch is not imported).

What gets scored: every step of `marts.fct_ml_features` that the production model has not
scored yet, and every step the dbt builds recomputed since the model last scored (late or
out-of-order readings change past features; `intermediate.int_batches_processed` lists the
batches each build took in, when, and from which step it recomputed; `ml.scored_batches`
those this model has scored, and after which build). Per household the scorer re-predicts
from the earliest such step, reading `window - 1` steps of history before it. All
predictions of a run are written in one transaction with its ledger rows, so a crash leaves
no partial batch, and a re-run finds nothing to do.

A model scores only features on the grid step it was trained on (`grid_step_seconds` in its
metadata; 5 minutes for models from before it was recorded): another step is refused with
what to do, never resampled (check_grid_step says why).

A class whose evidence sensors a home lacks is never predicted there (the logits are gated in
export.series_logits; models_ml/sensors.py), and each prediction says whether the home's last
day of features is out of the model's training distribution (models_ml/ood.py; read with that
much history). A model whose metadata has no "ood" ranges (trained before they were recorded)
scores with the check off: every step in distribution, ood_score null, and the run says so.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from models_ml import ModelError, data, ood, package, registry
from models_ml.export import series_logits, session
from models_ml.metrics import decide
from warehouse.taxonomy import ANOMALY_CLASSES
from warehouse.connection import transaction, utcnow
from warehouse.failpoints import failpoint

PROBABILITY_COLUMNS = [f"p_{name}" for _, name in sorted(ANOMALY_CLASSES.items())]
CHUNK_STEPS = 300_000   # feature rows read, scored and written at once: a batch of new days is one
                        # chunk; a full rescore (5M steps) streams through in chunks of this size


class ScoringError(ModelError):
    pass


@dataclass
class ScoreResult:
    run_id: str
    model_version: str
    steps_scored: int
    households: int
    anomalies: int
    seconds: float
    model_file: str
    ood_steps: int = 0          # steps scored out of distribution (their anomalies raise no alert)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def load_model(con: duckdb.DuckDBPyConnection, version: str | None = None, precision: str = "auto"):
    """The production (or named) model: its metadata and an ONNX Runtime session."""
    if version is None:
        row = registry.production(con)
        if row is None:
            raise ScoringError("no production model in ml.model_registry: train one with `homewatch train`, or "
                               "import one with `homewatch model import PACKAGE` (see docs/ml.md, Model packages)")
        version, _, folder = row
    else:
        row = con.execute("select artifact_dir from ml.model_registry where model_version = ?", [version]).fetchone()
        if row is None:
            raise ScoringError(f"no model version {version!r} in ml.model_registry")
        folder = row[0]
    folder = Path(folder)
    meta = registry.read_metadata(folder)
    name = meta.get("scoring_file", registry.ONNX_FP32) if precision == "auto" else (
        registry.ONNX_INT8 if precision == "int8" else registry.ONNX_FP32)
    return version, meta, session(folder / name), name


def check_grid_step(con: duckdb.DuckDBPyConnection, version: str, meta: dict) -> None:
    """Refuse to score features on another grid step than the model's: its windows would span
    another length of time and its rates another unit (a 10-minute home read by a 5-minute model
    called most of its steps anomalies). Refused, not resampled: the features (baselines, rolling
    windows, rule severities, time since change) are computed by the dbt build on its grid, and
    resampling them after the fact would not give the features of the other grid; the build can
    make them right from the readings, on any step."""
    check_step(version, meta, package.grid_step_seconds(con))


def check_step(version: str, meta: dict, warehouse_step: int | None) -> None:
    """check_grid_step on a known warehouse step (the Spark scorer reads its own: spark_score.py)."""
    model_step = package.model_step_seconds(meta)
    if warehouse_step is None or warehouse_step == model_step:
        return
    step = f"{model_step // 60}min" if model_step % 60 == 0 else f"{model_step}s"
    raise ScoringError(
        f"model {version} was trained on a {package.describe_step(model_step)} grid, but this warehouse's "
        f"features (marts.fct_ml_features) are on a {package.describe_step(warehouse_step)} grid: rebuild them on "
        f"the model's step with `homewatch build --step {step} --full-refresh` and score again, "
        f"or use a model trained on {package.describe_step(warehouse_step)} steps")


def check_columns(version: str, columns: list[str], present) -> None:
    """Refuse a model whose inputs the features table (its columns: `present`) cannot feed:
    one it was trained on is missing, or it predates sensor availability. A column the table
    has and the model was not trained on is fine (the model reads its own, by name)."""
    present = set(present)
    missing = [c for c in columns if c not in present]
    if not missing and not any(c.endswith("_available") for c in columns):
        raise ScoringError(f"model {version} predates sensor availability (no <sensor>_available inputs): it would read "
                           f"a sensor a home does not have as a failed one; retrain with `homewatch train`, or import a "
                           f"model exported by this HomeWatch version")
    if missing:
        raise ScoringError(f"model {version} was trained on feature columns marts.fct_ml_features does not have: "
                           f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; retrain with "
                           f"`homewatch train`, or import a model exported by this HomeWatch version")


def _work(con, version: str) -> tuple[dict[str, np.datetime64], list[tuple], set[str]]:
    """What to (re)score: per household, the first step; the batches covered (batch_id,
    processed_at); and which of them no model has scored yet (those pass the quality gate)."""
    batches = con.execute(
        """
        select p.batch_id, p.processed_at, p.recompute_from,
               not exists (select 1 from ml.scored_batches a where a.batch_id = p.batch_id) as is_new
        from intermediate.int_batches_processed p
        where not exists (select 1 from ml.scored_batches s where s.batch_id = p.batch_id
                          and s.model_version = ? and s.processed_at = p.processed_at)
        """, [version]).fetchall()
    # steps this model has never scored (a new model, a new household, steps after a silence):
    # first the household-days whose step count differs from the model's prediction count (two
    # aggregations), then the exact steps in those days only, not a join of millions of rows
    days = con.execute(
        """
        with features as (
            select household_id, step_at::date as day, count(*) as n from marts.fct_ml_features group by 1, 2
        ), predicted as (
            select household_id, step_at::date as day, count(*) as n from ml.predictions
            where model_version = ? group by 1, 2
        )
        select features.household_id, features.day from features
        left join predicted on features.household_id = predicted.household_id and features.day = predicted.day
        where predicted.n is distinct from features.n
        """, [version]).fetchall()
    starts: dict[str, np.datetime64] = {}
    if days:
        first_day = min(d for _, d in days)
        con.register("_unscored_days", pa.table({"household_id": [h for h, _ in days], "day": [d for _, d in days]}))
        try:
            starts = {h: np.datetime64(s, "us") for h, s in con.execute(
                """
                select f.household_id, min(f.step_at)
                from marts.fct_ml_features f
                semi join _unscored_days d on f.household_id = d.household_id and f.step_at::date = d.day
                anti join (select household_id, step_at from ml.predictions where model_version = ? and step_at >= ?) p
                    on f.household_id = p.household_id and f.step_at = p.step_at
                where f.step_at >= ?
                group by f.household_id
                """, [version, first_day, first_day]).fetchall()}
        finally:
            con.unregister("_unscored_days")
    # steps a build recomputed since this model scored them (late readings change past
    # features): from the build's own recompute point, in every household it covers
    recomputed = [b[2] for b in batches if b[2] is not None]
    if recomputed:
        since = min(recomputed)
        for household, first in con.execute(
                "select household_id, min(step_at) from marts.fct_ml_features where step_at >= ? group by 1",
                [since]).fetchall():
            first = np.datetime64(first, "us")
            starts[household] = min(starts.get(household, first), first)
    return starts, [(b[0], b[1]) for b in batches], {b[0] for b in batches if b[3]}


def _predict(sess, series, since: np.datetime64, window: int, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the steps from `since` on, their class probabilities, gated by the home's sensors)."""
    keep = np.flatnonzero(series.steps >= since)
    if not len(keep):
        return keep, np.empty((0, len(PROBABILITY_COLUMNS)), dtype=np.float32)
    return keep, _softmax(series_logits(sess, series.X, window, first=int(keep[0]), columns=columns))


def _out_of_distribution(series, keep: np.ndarray, columns: list[str], ref: dict | None):
    """(OOD score, flag) of the kept steps; (None, all False) without the model's ranges."""
    if not ref:
        return None, np.zeros(len(keep), dtype=bool)
    score_ = ood.scores(series.X, columns, ref)[keep]
    return score_, ood.flags(score_, ref)


def _chunks(con, starts: dict[str, np.datetime64], step: np.timedelta64, window: int) -> list[dict]:
    """The households to score, grouped so that each group reads about CHUNK_STEPS rows."""
    newest = con.execute("select max(step_at) from marts.fct_ml_features").fetchone()[0]
    newest = np.datetime64(newest, "us") if newest is not None else None
    chunks: list[dict] = [{}]
    rows = 0
    for household, since in sorted(starts.items()):
        n = window + (int((newest - since) // step) + 1 if newest is not None and newest >= since else 0)
        if chunks[-1] and rows + n > CHUNK_STEPS:
            chunks.append({})
            rows = 0
        chunks[-1][household] = since
        rows += n
    return [c for c in chunks if c]


def _replace(con, version: str, chunk: dict[str, np.datetime64], written: list) -> None:
    """Delete the chunk's predictions from each household's start on, insert the new ones."""
    starts = pa.table({"household_id": pa.array(list(chunk)),
                       "since": pa.array([s.item() for s in chunk.values()], pa.timestamp("us"))})
    con.register("_rescored", starts)
    try:
        con.execute("delete from ml.predictions p using _rescored r where p.model_version = ? "
                    "and p.household_id = r.household_id and p.step_at >= r.since "
                    "and p.step_at >= ? and p.household_id between ? and ?",   # bounds: row groups skipped
                    [version, min(chunk.values()).item(), min(chunk), max(chunk)])
    finally:
        con.unregister("_rescored")
    if written:
        con.register("new_predictions", pa.concat_tables(written))
        try:
            con.execute("insert into ml.predictions by name select * from new_predictions")
        finally:
            con.unregister("new_predictions")


def score(con: duckdb.DuckDBPyConnection, version: str | None = None, precision: str = "auto",
          progress: Callable[[str], None] = print, force: bool = False) -> ScoreResult:
    """Score what is new (see the module doc). Every batch no model has scored yet must have
    passed its newest quality check (`homewatch check`); `force` scores anyway and says why
    it would not. Everything is written in one transaction."""
    from expectations.gate import require_passed

    started = time.monotonic()
    for table, hint in (("marts.fct_ml_features", "run `homewatch build` first"),
                        ("intermediate.int_batches_processed", "run `homewatch build` first")):
        data._require(con, table, hint)
    version, meta, sess, model_file = load_model(con, version, precision)
    columns, window = meta["feature_columns"], int(meta["window"])
    weights = meta.get("decision_weights")   # per-class, fitted on validation (models_ml/metrics.py)
    check_grid_step(con, version, meta)
    # the model reads its own columns by name, in its own order: a column a newer HomeWatch added
    # to the table is not among them, so a model keeps scoring after an upgrade (or in another
    # warehouse); one it was trained on that the table lacks cannot be fed
    check_columns(version, columns, data.feature_columns(con))
    step = np.timedelta64(package.model_step_seconds(meta), "s")
    ood_ref = meta.get("ood") or None
    if ood_ref is None:
        progress(f"model {version} has no out-of-distribution ranges in its metadata (trained before they were "
                 "recorded): its predictions are not checked; retrain to check them")
    history = max(window, int(ood_ref["trailing_steps"]) if ood_ref else 0)   # steps read per household
    starts, batches, new_batches = _work(con, version)
    for batch_id in sorted(new_batches):
        decision = require_passed(con, batch_id, force=force)   # raises QualityGateError unless forced
        if decision.forced:
            progress(decision.message)
    run_id = uuid.uuid4().hex[:12]
    if not starts and not batches:      # nothing new: a re-run writes nothing at all
        return ScoreResult(run_id, version, 0, 0, 0, time.monotonic() - started, model_file)
    scored_at = utcnow()
    n_anomalies = done = households = n_ood = 0
    ood_households = []
    chunks = _chunks(con, starts, step, history)
    with transaction(con):
        for chunk in chunks:
            context = {h: (since - (history - 1) * step).astype("datetime64[us]").item() for h, since in chunk.items()}
            series_by_household = {s.household_id: s for s in data.read_households_since(con, context, columns)}
            written = []
            for household, since in chunk.items():
                series = series_by_household.get(household)
                if series is None:
                    continue
                keep, probs = _predict(sess, series, since, window, columns)
                if not len(keep):
                    continue
                predicted = decide(probs, weights).astype(np.int32)
                ood_score, is_ood = _out_of_distribution(series, keep, columns, ood_ref)
                if is_ood.any():
                    n_ood += int(is_ood.sum())
                    ood_households.append((household, float(is_ood.mean()),
                                           ood.worst_features(series.X[keep][is_ood], columns, ood_ref)))
                written.append(pa.table({
                    "run_id": pa.array([run_id] * len(keep)),
                    "household_id": pa.array([household] * len(keep)),
                    "step_at": pa.array(series.steps[keep]),
                    "model_version": pa.array([version] * len(keep)),
                    "predicted_class": pa.array(predicted),
                    **{c: pa.array(probs[:, j].astype(np.float64)) for j, c in enumerate(PROBABILITY_COLUMNS)},
                    "confidence": pa.array(probs[np.arange(len(predicted)), predicted].astype(np.float64)),
                    "scored_at": pa.array([scored_at] * len(keep), pa.timestamp("us")),
                    "is_out_of_distribution": pa.array(is_ood),
                    "ood_score": pa.array(ood_score if ood_score is not None else [None] * len(keep), pa.float64()),
                }))
                n_anomalies += int((predicted != 0).sum())
                done += len(keep)
                households += 1
            _replace(con, version, chunk, written)
            failpoint("score.in_transaction")   # tests kill the process here: nothing may be left
            progress(f"scored {households}/{len(starts)} households ({done:,} steps)")
        for household, share, features in ood_households:
            progress(f"{household}: {share:.0%} of the steps scored are out of the model's training distribution "
                     f"(most often outside: {', '.join(f'{c} {v:.0%}' for c, v in features) or '-'}); "
                     "the anomaly tables raise no alert from them (dbt var alert_out_of_distribution)")
        if batches:   # steps left unscored (deleted predictions) can come without a new batch
            con.executemany("insert into ml.scored_batches (batch_id, model_version, processed_at, run_id, scored_at) "
                            "values (?, ?, ?, ?, ?)", [(b, version, p, run_id, scored_at) for b, p in batches])
        con.execute("insert into ml.score_runs (run_id, model_version, model_file, started_at, finished_at, "
                    "households, steps_scored, anomaly_steps) values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, version, model_file, scored_at, utcnow(), households, done, n_anomalies])
    return ScoreResult(run_id, version, done, households, n_anomalies, time.monotonic() - started, model_file, n_ood)
