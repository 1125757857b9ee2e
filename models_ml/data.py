"""Reading the dbt feature table one household at a time, and windows over it.

The classifier reads `marts.fct_ml_features` (one row per household per step, fixed column
order) and, for training and evaluation, the ground truth in `marts.int_steps_labelled`.
Everything is streamed by household: one household's steps are a few MB, the warehouse's
are GBs. Windows are NumPy views (`sliding_window_view`), never a Python loop per window.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterator

import duckdb
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from models_ml import ModelError
from warehouse.connection import has_table

FEATURES_TABLE = "marts.fct_ml_features"
LABELS_TABLE = "marts.int_steps_labelled"
HOUSEHOLDS_TABLE = "marts.dim_households"
EVENTS_TABLE = "staging.stg_raw__injected_events"
RULES_TABLE = "intermediate.int_household_rules_flagged"
# columns of the feature table that are not model inputs: keys, and the rules' own verdict
# (kept for the rules-only baseline; the rules' severities are inputs)
NON_FEATURES = ("household_id", "step_at", "rule_class")


class DataError(ModelError):
    """The warehouse lacks what the classifier needs (say which table and what to run)."""


@dataclass
class HouseholdSeries:
    household_id: str
    steps: np.ndarray             # datetime64[us], regular, ascending
    X: np.ndarray                 # (T, F) float32, columns in feature_columns() order
    rule_class: np.ndarray        # (T,) int64: the dbt rules' class per step
    labels: np.ndarray | None     # (T,) int64 ground truth, None without it (real data)


def _require(con: duckdb.DuckDBPyConnection, table: str, hint: str) -> None:
    if not has_table(con, *table.split(".")):
        raise DataError(f"{table} does not exist in this warehouse: {hint}")


def feature_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The model inputs, in the table's own (documented, fixed) column order."""
    _require(con, FEATURES_TABLE, "run `homewatch build` first")
    cols = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'fct_ml_features' order by ordinal_position").fetchall()]
    return [c for c in cols if c not in NON_FEATURES]


def household_splits(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """household_id -> 'train' | 'validation' | 'test' (a fixed md5 split, see dim_households)."""
    _require(con, HOUSEHOLDS_TABLE, "run `homewatch build` first")
    return dict(con.execute(f"select household_id, split from {HOUSEHOLDS_TABLE} order by household_id").fetchall())


def labelled_households(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Households with ground truth (simulated ones)."""
    if not has_table(con, *LABELS_TABLE.split(".")):
        return set()
    return {r[0] for r in con.execute(f"select distinct household_id from {LABELS_TABLE}").fetchall()}


def read_household(con: duckdb.DuckDBPyConnection, household_id: str, columns: list[str],
                   since: dt.datetime | None = None, with_labels: bool = True) -> HouseholdSeries:
    """One household's feature rows (from `since` on, if given), ordered by step."""
    select = ", ".join(f"f.{c}::float as {c}" for c in columns)
    join = where = ""
    params: list = [household_id]
    if with_labels:
        join = f" left join {LABELS_TABLE} l on l.household_id = f.household_id and l.step_at = f.step_at"
    if since is not None:
        where = " and f.step_at >= ?"
        params.append(since)
    label = ", l.label_class" if with_labels else ", null"
    table = con.execute(
        f"select f.step_at, f.rule_class{label}, {select} from {FEATURES_TABLE} f{join} "
        f"where f.household_id = ?{where} order by f.step_at", params).fetchnumpy()
    steps = table["step_at"].astype("datetime64[us]")
    X = _matrix(table, columns)
    labels = None
    if with_labels:
        raw = table["label_class"]
        if np.ma.isMaskedArray(raw):
            labels = None if raw.mask.all() else np.ma.filled(raw, 0).astype(np.int64)
        else:
            labels = np.asarray(raw, dtype=np.int64)
    return HouseholdSeries(household_id, steps, X, np.asarray(table["rule_class"], dtype=np.int64), labels)


def _matrix(table: dict, columns: list[str]) -> np.ndarray:
    """(T, F) float32 from fetchnumpy's columns, in the given order."""
    X = np.empty((len(table["step_at"]), len(columns)), dtype=np.float32)
    for j, c in enumerate(columns):
        X[:, j] = np.asarray(table[c], dtype=np.float32)
    return X


def read_households_since(con: duckdb.DuckDBPyConnection, since: dict[str, dt.datetime],
                          columns: list[str]) -> list[HouseholdSeries]:
    """Several households' feature rows at once, each from its own start on (no labels): one
    query instead of one per household, for the scorer's small incremental reads."""
    if not since:
        return []
    import pyarrow as pa

    starts = pa.table({"household_id": pa.array(list(since)),
                       "since": pa.array(list(since.values()), pa.timestamp("us"))})
    select = ", ".join(f"f.{c}::float as {c}" for c in columns)
    con.register("_read_since", starts)
    try:
        # literal bounds let DuckDB skip the row groups of older steps and other households
        table = con.execute(
            f"select f.household_id, f.step_at, f.rule_class, {select} from {FEATURES_TABLE} f "
            "inner join _read_since s on f.household_id = s.household_id and f.step_at >= s.since "
            "where f.step_at >= ? and f.household_id between ? and ? order by f.household_id, f.step_at",
            [min(since.values()), min(since), max(since)]).fetchnumpy()
    finally:
        con.unregister("_read_since")
    households = np.asarray(table["household_id"], dtype=object)
    steps = table["step_at"].astype("datetime64[us]")
    X = _matrix(table, columns)
    rule_class = np.asarray(table["rule_class"], dtype=np.int64)
    bounds = [0, *(np.flatnonzero(households[1:] != households[:-1]) + 1).tolist(), len(steps)]
    return [HouseholdSeries(households[a], steps[a:b], X[a:b], rule_class[a:b], None)
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def iter_households(con: duckdb.DuckDBPyConnection, household_ids: list[str], columns: list[str],
                    with_labels: bool = True) -> Iterator[HouseholdSeries]:
    for household_id in household_ids:
        series = read_household(con, household_id, columns, with_labels=with_labels)
        if len(series.steps):
            yield series


def pad_history(X: np.ndarray, window: int) -> np.ndarray:
    """(T, F) -> (T + window - 1, F): the first row repeated window - 1 times, then X.

    A household's first steps have less history than a window: padded like this, every step
    gets a window and a prediction (a model sees a flat start, not zeros that look like a
    failure)."""
    if X.ndim != 2:
        raise ValueError(f"expected a (steps, features) array, got shape {X.shape}")
    return np.concatenate([np.repeat(X[:1], window - 1, axis=0), X], axis=0) if len(X) else X


def windows(X: np.ndarray, window: int) -> np.ndarray:
    """(T, F) -> (T, window, F): the window ending at each step, as a view of a padded copy
    (pad_history)."""
    return sliding_window_view(pad_history(X, window), (window, X.shape[1]))[:, 0]


def segments(X: np.ndarray, window: int, first: int = 0, length: int = 4096) -> np.ndarray:
    """The history-padded series (pad_history) from step `first` on, cut into overlapping
    pieces for a sequence model: (n_segments, length + window - 1, F), piece k holding the
    windows of steps first + k*length ... first + (k+1)*length - 1. The last piece is
    filled up with the last row (its extra outputs are dropped by the caller); `length` is
    evened out over the pieces so that filler stays under one row per piece. One copy of the
    series, the pieces are overlapping views of it."""
    n = len(X) - first
    if n <= 0:
        return np.zeros((0, length + window - 1, X.shape[1]), dtype=X.dtype)
    n_segments = -(-n // length)
    length = -(-n // n_segments)
    # pad_history(X, window)[first:] then the filler, in one allocation
    padded = np.empty((n_segments * length + window - 1, X.shape[1]), dtype=X.dtype)
    lead = max(window - 1 - first, 0)                    # rows of repeated history still in front
    padded[:lead] = X[0]
    padded[lead:lead + len(X) - max(first - window + 1, 0)] = X[max(first - window + 1, 0):]
    padded[window - 1 + n:] = X[-1]
    return sliding_window_view(padded, (length + window - 1, X.shape[1]))[::length, 0]


def step_minutes(steps: np.ndarray) -> int:
    """The grid step of a household's series (the most common gap between steps)."""
    if len(steps) < 2:
        raise DataError("a household needs at least two steps to tell the grid step")
    gaps = np.diff(steps).astype("timedelta64[s]").astype(np.int64)
    values, counts = np.unique(gaps, return_counts=True)
    seconds = int(values[np.argmax(counts)])
    if seconds < 60 or seconds % 60:
        raise DataError(f"the classifier works on grids of whole minutes; this warehouse's grid step is {seconds} s "
                        "(the calibrated generic score, marts.fct_incidents, works on any step)")
    return seconds // 60


def rule_levels(con: duckdb.DuckDBPyConnection, household_id: str, steps: np.ndarray,
                columns: tuple[str, ...] = ("temperature", "temperature_expected")) -> dict[str, np.ndarray]:
    """Columns of the domain rules' table (int_household_rules_flagged) for one household at
    these steps, as float arrays (NaN where null or where the table has no such step): the
    physical context the classified anomalies are checked against (metrics.heating_evidence)."""
    out = {c: np.full(len(steps), np.nan) for c in columns}
    if not len(steps):
        return out
    select = ", ".join(f"{c}::double as {c}" for c in columns)
    table = con.execute(f"select step_at, {select} from {RULES_TABLE} where household_id = ? "
                        "and step_at between ? and ? order by step_at",
                        [household_id, steps[0].item(), steps[-1].item()]).fetchnumpy()
    at = table["step_at"].astype("datetime64[us]")
    where = np.searchsorted(steps, at)
    hit = (where < len(steps)) & (steps[np.minimum(where, len(steps) - 1)] == at)
    for c in columns:
        values = np.ma.filled(np.ma.asarray(table[c], dtype=np.float64), np.nan)
        out[c][where[hit]] = values[hit]
    return out


def injected_events(con: duckdb.DuckDBPyConnection, household_ids: list[str]) -> list[tuple]:
    """Ground-truth events (anomalies, faults and hard negatives) of these households:
    (household_id, kind, anomaly_class, event_type, start_at, end_at)."""
    if not household_ids or not has_table(con, *EVENTS_TABLE.split(".")):
        return []
    return con.execute(
        f"select household_id, event_kind, anomaly_class, event_type, start_at, end_at from {EVENTS_TABLE} "
        f"where household_id in (select unnest(?)) order by household_id, start_at", [household_ids]).fetchall()
