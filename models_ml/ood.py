"""Out of distribution: is a home's recent behaviour unlike anything the model trained on?

The distance, chosen to be cheap and explainable:
  1. training records, per feature, the range of its values over the training households'
     steps: the 0.1 % and 99.9 % quantiles, widened by `margin` (25 %) of their width on both
     sides (and always holding the value an absent sensor reads, since homes without a sensor
     are in distribution: training masks sensors);
  2. a step is *outside* when any of its level features (the sensors' values, their baseline
     z-scores, spreads and changes; not the time of day, the flags, the rules' severities or
     the generic scores, which spike on any anomaly) lies outside its training range;
  3. a step's OOD score is the share of outside steps over the trailing `trailing_hours` (24 h;
     fewer at a household's start), and the step is out of distribution when that share is at
     least `threshold` (0.5): most of the last day looks like nothing in training.
A real anomaly lasts minutes to hours and stays in distribution; a home whose rooms, humidity
or power draw are persistently beyond what the simulator makes is flagged. The ranges live in
the model's metadata ("ood"), so an exported package carries them.
"""
from __future__ import annotations

import numpy as np

from models_ml.sensors import absent_value, sensor_of

QUANTILE = 0.001
MARGIN = 0.25
TRAILING_HOURS = 24
THRESHOLD = 0.5
SKIP_COLUMNS = ("hour_sin", "hour_cos", "is_weekend", "generic_anomaly_score", "generic_health_score",
                "humidity_high_days", "fridge_off_days")
SKIP_SUFFIXES = ("_severity", "_missing", "_no_baseline", "_available")


def checked_columns(columns: list[str]) -> list[str]:
    """The level features the check compares (see the module doc)."""
    return [c for c in columns if c not in SKIP_COLUMNS and not c.endswith(SKIP_SUFFIXES)]


def reference(rows: np.ndarray, columns: list[str], step_seconds: int) -> dict:
    """The metadata entry "ood" from a sample of training steps (N, F)."""
    checked = checked_columns(columns)
    idx = [columns.index(c) for c in checked]
    lo = np.quantile(rows[:, idx], QUANTILE, axis=0)
    hi = np.quantile(rows[:, idx], 1 - QUANTILE, axis=0)
    absent = np.array([absent_value(c) if sensor_of(c) else v for c, v in zip(checked, lo)])
    lo, hi = np.minimum(lo, absent), np.maximum(hi, absent)
    width = hi - lo
    return {"columns": checked, "low": (lo - MARGIN * width - 1e-3).round(6).tolist(),
            "high": (hi + MARGIN * width + 1e-3).round(6).tolist(),
            "trailing_steps": max(int(TRAILING_HOURS * 3600 // step_seconds), 1), "threshold": THRESHOLD,
            "sample_steps": int(len(rows)),
            "distance": f"share of the trailing {TRAILING_HOURS} h of steps with a level feature outside its "
                        f"training [{QUANTILE:g}, {1 - QUANTILE:g}] quantile range widened by {MARGIN:g} of its width"}


def outside(X: np.ndarray, columns: list[str], ref: dict) -> np.ndarray:
    """(T, F) -> (T, checked features) bool: which features of each step lie outside training's range."""
    idx = [columns.index(c) for c in ref["columns"]]
    values = X[:, idx]
    return (values < np.asarray(ref["low"], np.float32)) | (values > np.asarray(ref["high"], np.float32))


def scores(X: np.ndarray, columns: list[str], ref: dict) -> np.ndarray:
    """(T,) the OOD score of each step: the share of outside steps in the trailing window."""
    out = outside(X, columns, ref).any(axis=1).astype(np.float64)
    n = int(ref["trailing_steps"])
    total = np.cumsum(np.concatenate([[0.0], out]))
    ends = np.arange(1, len(out) + 1)
    starts = np.maximum(ends - n, 0)
    return (total[ends] - total[starts]) / (ends - starts)


def flags(score: np.ndarray, ref: dict) -> np.ndarray:
    return score >= float(ref["threshold"])


def worst_features(X: np.ndarray, columns: list[str], ref: dict, k: int = 3) -> list[tuple[str, float]]:
    """The k features most often outside their range in X, with the share of steps: what made
    a home out of distribution."""
    share = outside(X, columns, ref).mean(axis=0) if len(X) else np.zeros(len(ref["columns"]))
    order = np.argsort(-share)[:k]
    return [(ref["columns"][j], round(float(share[j]), 3)) for j in order if share[j] > 0]
