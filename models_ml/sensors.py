"""Which sensors a home has: the feature columns of each known sensor, what they read when the
sensor is absent, class gating, and random sensor masking for training.

A home has the known sensors its `<s>_available` feature says (marts.fct_ml_features: 1 from
the household's first reading of the sensor on). Gating: a class whose evidence sensors
(warehouse/taxonomy.py EVIDENCE_SENSORS) a home lacks gets no probability at all; scoring and
evaluation apply it to the logits (export.series_logits), the one scoring path. Masking:
training drops whole sensors of random windows, writing their columns as an absent sensor's
read in the feature table, so that the model has seen homes with any subset of sensors.
"""
from __future__ import annotations

import numpy as np

from warehouse.taxonomy import CLASS_IDS, EVIDENCE_SENSORS, KNOWN_SENSORS

# columns that belong to a sensor without carrying its name as a prefix (the domain rules'
# evidence and severities: each rule reads one sensor's signal)
RULE_COLUMNS = {
    "heating_failure_severity": "temperature",
    "humidity_high_days": "humidity",
    "humidity_anomaly_severity": "humidity",
    "fridge_off_days": "fridge_power",
    "fridge_failure_severity": "fridge_power",
    "door_at_night_severity": "door",
    "fire_severity": "fire_alarm",
}
LOGIT_OFF = -1e4   # a gated class's logit: exp() underflows to exactly 0 probability


def available_column(sensor: str) -> str:
    return f"{sensor}_available"


def sensor_of(column: str) -> str | None:
    """The known sensor a feature column describes, None for columns of none or several
    (time of day, the generic scores)."""
    if column in RULE_COLUMNS:
        return RULE_COLUMNS[column]
    for sensor in sorted(KNOWN_SENSORS, key=len, reverse=True):
        if column == sensor or column.startswith(sensor + "_"):
            return sensor
    return None


def absent_value(column: str) -> float:
    """What fct_ml_features holds in this sensor column for a home without the sensor: the
    missing and no-baseline flags are 1, every value, score and availability is 0."""
    return 1.0 if column.endswith("_missing") or column.endswith("_no_baseline") else 0.0


def sensor_columns(columns: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """sensor -> (indices of its columns, their absent values), for the sensors with an
    availability column among `columns`."""
    out = {}
    for sensor in KNOWN_SENSORS:
        if available_column(sensor) not in columns:
            continue
        idx = [j for j, c in enumerate(columns) if sensor_of(c) == sensor]
        out[sensor] = (np.array(idx, dtype=np.int64), np.array([absent_value(columns[j]) for j in idx], np.float32))
    return out


def allowed_classes(present: np.ndarray, sensors: list[str]) -> np.ndarray:
    """(N, sensors) bool presence -> (N, classes) bool: whether each class has its evidence."""
    index = {s: k for k, s in enumerate(sensors)}
    allowed = np.ones((len(present), len(CLASS_IDS)), dtype=bool)
    for c, groups in EVIDENCE_SENSORS.items():
        ok = np.zeros(len(present), dtype=bool)
        for group in groups:
            if all(s in index for s in group):
                ok |= np.all(present[:, [index[s] for s in group]], axis=1)
            # a group naming a sensor the features do not describe is never satisfied
        allowed[:, c] = ok
    return allowed


def step_allowed(X: np.ndarray, columns: list[str]) -> np.ndarray | None:
    """(T, F) features -> (T, classes) bool: the classes each step's home has evidence for; None
    when the features carry no availability (a model from before availability was a feature)."""
    sensors = [s for s in KNOWN_SENSORS if available_column(s) in columns]
    if not sensors:
        return None
    present = X[:, [columns.index(available_column(s)) for s in sensors]] > 0.5
    return allowed_classes(present, sensors)


def gate_logits(logits: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """The logits with every class a step's home has no evidence for set to LOGIT_OFF (in place)."""
    if allowed is not None:
        logits[~allowed[:len(logits)]] = LOGIT_OFF
    return logits


def household_sensors(X: np.ndarray, columns: list[str]) -> list[str]:
    """The known sensors a household's series says it has (at its newest step)."""
    return [s for s in KNOWN_SENSORS if available_column(s) in columns
            and len(X) and X[-1, columns.index(available_column(s))] > 0.5]


class SensorMasker:
    """Random sensor masking for training batches: a `share` of the windows lose each known
    sensor with probability `drop` (at least one sensor is kept), written as an absent sensor
    reads (sensor_columns); a window whose label's evidence went with them becomes normal (the
    home could not show it). Fresh masks every batch, from `rng`."""

    def __init__(self, columns: list[str], share: float, drop: float, rng: np.random.Generator) -> None:
        self.groups = sensor_columns(columns)
        self.sensors = list(self.groups)
        self.available = np.array([columns.index(available_column(s)) for s in self.sensors], dtype=np.int64)
        self.share, self.drop, self.rng = share, drop, rng

    def __call__(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masked copies of a batch of windows (N, window, F) and their labels (N,)."""
        if self.share <= 0 or not self.sensors:
            return X, y
        n, k = len(X), len(self.sensors)
        drop = (self.rng.random(n) < self.share)[:, None] & (self.rng.random((n, k)) < self.drop)
        every = drop.all(axis=1)
        if every.any():   # keep one sensor, at random
            drop[np.flatnonzero(every), self.rng.integers(0, k, int(every.sum()))] = False
        if not drop.any():
            return X, y
        X, y = X.copy(), y.copy()
        for j, sensor in enumerate(self.sensors):
            rows = np.flatnonzero(drop[:, j])
            if len(rows):
                idx, values = self.groups[sensor]
                X[rows[:, None, None], np.arange(X.shape[1])[None, :, None], idx[None, None, :]] = values
        present = X[:, -1, self.available] > 0.5
        y[~allowed_classes(present, self.sensors)[np.arange(n), y]] = 0
        return X, y
