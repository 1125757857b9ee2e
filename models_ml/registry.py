"""Model artifacts on disk and the model registry in the warehouse.

A model version is a folder of plain files, never a pickle:
  weights.npz      the state_dict as NumPy arrays (np.load(..., allow_pickle=False))
  model.onnx       fp32, dynamic batch axis; what the scorer runs
  model.int8.onnx  static int8 (convolutional models only)
  metadata.json    feature column order, normalisation stats, window, grid step, class map,
                   sensors and a summary of the training data, config, metrics
and a row of `ml.model_registry` (which also says where the model came from: trained here, or
imported from a package, see models_ml/package.py). The folder lives under
$HOMEWATCH_MODELS_DIR, by default `models/` next to the warehouse file, so each warehouse has
its own models; `homewatch model export` / `import` carry one to another warehouse.

Promotion: a new version becomes production only if its validation macro-F1 beats the
current production version's (the first version always wins); `promote` can force any
version and `rollback` returns to the version that was production before.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import duckdb
import numpy as np

from models_ml import ModelError
from warehouse.connection import resolve_db_path, utcnow

METADATA = "metadata.json"
WEIGHTS = "weights.npz"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
REQUIRED_METADATA = ("model_version", "feature_columns", "window", "step_minutes", "config", "scoring_file")


class RegistryError(ModelError):
    pass


LEGACY_STEP_SECONDS = 300   # models from before grid_step_seconds was recorded: all were on this grid


def model_step_seconds(meta: dict) -> int:
    """The grid step a model was trained on: `grid_step_seconds`, else its `step_minutes`, else
    (older metadata) 5 minutes, the only grid before the step was configurable."""
    if meta.get("grid_step_seconds"):
        return int(meta["grid_step_seconds"])
    if meta.get("step_minutes"):
        return int(meta["step_minutes"]) * 60
    return LEGACY_STEP_SECONDS


def models_dir(db=None) -> Path:
    env = os.environ.get("HOMEWATCH_MODELS_DIR")
    return Path(env) if env else resolve_db_path(db).parent / "models"


def new_version(arch: str, created: dt.datetime, config: dict) -> str:
    """e.g. cnn-20261123T171502-3fa2c1: the architecture, when, and a digest of the config and
    the moment (two trainings in the same second still get two versions)."""
    digest = hashlib.sha1((json.dumps(config, sort_keys=True) + created.isoformat()).encode()).hexdigest()[:6]
    return f"{arch}-{created:%Y%m%dT%H%M%S}-{digest}"


def save_weights(state_dict: dict, path: Path) -> None:
    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in state_dict.items()})


def load_weights(path: Path) -> dict:
    import torch

    with np.load(path, allow_pickle=False) as arrays:
        return {k: torch.from_numpy(arrays[k].copy()) for k in arrays.files}


def read_metadata(folder: Path) -> dict:
    path = folder / METADATA
    if not path.is_file():
        raise RegistryError(f"model metadata not found: {path} (was the model folder moved or deleted? "
                            f"train again with `homewatch train`)")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RegistryError(f"model metadata {path} is not valid JSON ({exc}); train again with `homewatch train`") from None
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise RegistryError(f"model metadata {path} lacks {', '.join(missing)}; train again with `homewatch train`")
    return meta


def register(con: duckdb.DuckDBPyConnection, meta: dict, folder: Path) -> bool:
    """Record a version trained here; promote it if it beats production on validation macro-F1.
    Returns whether it was promoted. Runs inside the caller's transaction."""
    current = production(con)
    now = utcnow()
    insert(con, meta, folder, now)
    if current is None or meta["metrics"]["validation_macro_f1"] > current[1]:
        make_production(con, meta["model_version"], now)
        return True
    return False


def insert(con: duckdb.DuckDBPyConnection, meta: dict, folder: Path, now: dt.datetime, origin: str = "trained",
           imported_from: str | None = None, package_sha256: str | None = None) -> None:
    """The registry row of a version, as a candidate: where it came from (trained here, or
    imported from a package) and what it trained on, from its metadata."""

    summary = {**meta["training_data"], **meta.get("training_summary", {})}
    con.execute(
        "insert into ml.model_registry (model_version, arch, created_at, status, val_macro_f1, test_macro_f1, "
        "train_from, train_to, config, metrics, artifact_dir, origin, imported_from, package_sha256, "
        "grid_step_seconds, training_data) values (?, ?, ?, 'candidate', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [meta["model_version"], meta["config"]["arch"], now, meta["metrics"]["validation_macro_f1"],
         meta["metrics"].get("test_macro_f1"), meta["training_data"]["first_step"],
         meta["training_data"]["last_step"], json.dumps(meta["config"]), json.dumps(meta["metrics"]), str(folder),
         origin, imported_from, package_sha256, model_step_seconds(meta), json.dumps(summary, default=str)])


def make_production(con, version: str, now: dt.datetime) -> None:
    con.execute("update ml.model_registry set status = 'retired' where status = 'production'")
    con.execute("update ml.model_registry set status = 'production', promoted_at = ? where model_version = ?",
                [now, version])


def production(con: duckdb.DuckDBPyConnection) -> tuple[str, float, str] | None:
    """(model_version, validation macro-F1, artifact folder) of the production model, or None."""
    return con.execute("select model_version, val_macro_f1, artifact_dir from ml.model_registry "
                       "where status = 'production'").fetchone()


def promote(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """Force a version into production (whatever its metrics)."""
    if not con.execute("select count(*) from ml.model_registry where model_version = ?", [version]).fetchone()[0]:
        known = [r[0] for r in con.execute("select model_version from ml.model_registry order by created_at").fetchall()]
        raise RegistryError(f"no model version {version!r} in the registry; known: {', '.join(known) or 'none'}")
    make_production(con, version, utcnow())


def rollback(con: duckdb.DuckDBPyConnection) -> str:
    """Make the previously promoted version production again; returns it."""
    current = production(con)
    previous = con.execute(
        "select model_version from ml.model_registry where status = 'retired' and promoted_at is not null "
        "order by promoted_at desc limit 1").fetchone()
    if previous is None:
        raise RegistryError("nothing to roll back to: no version was production before "
                            + (f"{current[0]}" if current else "(there is no production model)"))
    con.execute("update ml.model_registry set status = 'retired' where status = 'production'")
    # keep its promoted_at: the rollback target is the newest promotion that is not undone
    con.execute("update ml.model_registry set status = 'production' where model_version = ?", [previous[0]])
    if current:
        con.execute("update ml.model_registry set promoted_at = null where model_version = ?", [current[0]])
    return previous[0]


def versions(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(version, status, validation and test macro-F1, created, promoted, origin, imported from)."""
    # a warehouse opened read-only may predate the origin columns (migration 5 runs on the next write)
    has_origin = con.execute("select count(*) from information_schema.columns where table_schema = 'ml' "
                             "and table_name = 'model_registry' and column_name = 'origin'").fetchone()[0]
    origin = "coalesce(origin, 'trained'), imported_from" if has_origin else "'trained', null"
    return con.execute(f"select model_version, status, val_macro_f1, test_macro_f1, created_at, promoted_at, {origin} "
                       "from ml.model_registry order by created_at").fetchall()
