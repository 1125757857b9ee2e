"""Drift reference: statistics of the days before a batch, computed in SQL and stored in dq.reference_stats.

The current window is the batch's newest DRIFT_WINDOW_HOURS. The reference is the same hours
of the day on each of the REFERENCE_DAYS days before it, so a night-time batch is compared
with nights, and a short rolling period follows the seasons. Each reference day is a window:
how much a statistic varies from window to window is what the bounds are built from.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd

from expectations import config
from expectations.batches import Batch

DAY_S = 86400
STATS = ("mean", "std", "q05", "q50", "q95")


@dataclasses.dataclass(frozen=True)
class DriftWindow:
    current_start: dt.datetime
    current_end: dt.datetime  # inclusive: the batch's newest reading

    @property
    def reference_start(self) -> dt.datetime:
        return self.current_start - dt.timedelta(days=config.REFERENCE_DAYS)

    @property
    def reference_end(self) -> dt.datetime:
        return self.current_end - dt.timedelta(days=1)

    @property
    def reference_id(self) -> str:
        return f"{self.current_start:%Y%m%dT%H%M%S}-{self.current_end:%Y%m%dT%H%M%S}-{config.REFERENCE_DAYS}d"

    def params(self) -> dict:
        return {"cs": self.current_start, "ce": self.current_end, "days": config.REFERENCE_DAYS,
                "excluded": list(config.DRIFT_EXCLUDED_SENSORS)}


def drift_window(batch: Batch) -> DriftWindow | None:
    """The batch's newest DRIFT_WINDOW_HOURS (all of a shorter batch); None for an empty batch."""
    if batch.is_empty:
        return None
    start = batch.last_reading_at - dt.timedelta(hours=config.DRIFT_WINDOW_HOURS) + dt.timedelta(seconds=1)
    return DriftWindow(max(batch.first_reading_at, start), batch.last_reading_at)


@dataclasses.dataclass
class SensorReference:
    sensor: str
    kind: str
    n_windows: int
    n_values: int
    stats: dict[str, tuple[float, float, float]]  # stat -> (center, spread across windows, pooled)
    histogram: dict  # Great Expectations partition object: bins, weights, tail_weights
    kl_reference_max: float  # the largest KL of one reference window against the whole reference


@dataclasses.dataclass
class Reference:
    window: DriftWindow
    sensors: dict[str, SensorReference]
    households: pd.DataFrame  # household_id, sensor, n_windows, n_values, mean_center, std_center, band

    @property
    def reference_id(self) -> str:
        return self.window.reference_id


# Readings in the reference windows: reference day k holds [cs - k days, ce - k days].
REFERENCE_ROWS_SQL = """
with candidates as (
    select household_id, sensor, reading_at, value,
        ceil((epoch($cs::timestamp) - epoch(reading_at)) / 86400.0)::integer as k
    from raw.readings
    where reading_at >= $cs::timestamp - to_days($days) and reading_at < $cs
      and sensor not in (select unnest($excluded::varchar[]))
)
select * from candidates where epoch(reading_at) + k * 86400 <= epoch($ce::timestamp)
"""

PER_WINDOW_SQL = f"""
with ref as ({REFERENCE_ROWS_SQL})
select sensor, coalesce(household_id, '*') as household_id, k, count(*) as n,
    avg(value) as mean, coalesce(stddev_samp(value), 0) as std, quantile_cont(value, 0.05) as q05,
    quantile_cont(value, 0.5) as q50, quantile_cont(value, 0.95) as q95
from ref
group by grouping sets ((sensor, k), (sensor, household_id, k))
"""

POOLED_SQL = f"""
with ref as ({REFERENCE_ROWS_SQL})
select sensor, count(*) as n, avg(value) as mean, coalesce(stddev_samp(value), 0) as std,
    quantile_cont(value, 0.05) as q05, quantile_cont(value, 0.5) as q50, quantile_cont(value, 0.95) as q95,
    quantile_cont(value, $tail) as lo, quantile_cont(value, 1 - $tail) as hi
from ref
group by sensor
"""

HISTOGRAM_SQL = f"""
with ref as ({REFERENCE_ROWS_SQL}),
edges as (select * from (values {{edges}}) as e(sensor, lo, hi, nbins))
select ref.sensor, ref.k,
    case when value < lo then -1 when value > hi then nbins
         else least(floor((value - lo) / (hi - lo) * nbins), nbins - 1)::integer end as bin,
    count(*) as n
from ref join edges using (sensor)
group by all
"""


def _kind(sensor: str) -> str:
    known = config.sensor_types().get(sensor)
    return known.kind if known else "continuous"


def _edges(sensor: str, lo: float, hi: float) -> tuple[float, float, int]:
    """Histogram range: a binary sensor's two values, else the reference's 0.1%-99.9% range in equal bins."""
    if _kind(sensor) == "binary":
        return 0.0, 1.0, 2
    if not hi > lo:
        hi = lo + max(abs(lo) * 0.01, 1e-6)
    return float(lo), float(hi), config.HISTOGRAM_BINS


def _histogram(counts: pd.DataFrame, lo: float, hi: float, nbins: int) -> tuple[dict, float]:
    """Smoothed pooled partition, and the largest KL of one window's (raw) histogram against it."""
    table = counts.pivot_table(index="k", columns="bin", values="n", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=range(-1, nbins + 1), fill_value=0)
    pooled = table.sum(axis=0).to_numpy(dtype=float) + config.HISTOGRAM_SMOOTHING
    q = pooled / pooled.sum()
    kls = []
    for row in table.to_numpy(dtype=float):
        p = row / row.sum()
        nz = p > 0
        kls.append(float(np.sum(p[nz] * np.log(p[nz] / q[nz]))))
    partition = {"bins": [float(x) for x in np.linspace(lo, hi, nbins + 1)],
                 "weights": [float(x) for x in q[1:-1]], "tail_weights": [float(q[0]), float(q[-1])]}
    return partition, max(kls, default=0.0)


def compute_reference(con, window: DriftWindow) -> Reference:
    """Reference statistics for the window, pooled per sensor and per household and sensor."""
    params = window.params()
    per_window = con.execute(PER_WINDOW_SQL, params).df()
    pooled = con.execute(POOLED_SQL, {**params, "tail": config.HISTOGRAM_TAIL_QUANTILE}).df().set_index("sensor")
    sensors: dict[str, SensorReference] = {}
    if len(pooled):
        edges = {s: _edges(s, row.lo, row.hi) for s, row in pooled.iterrows()}
        values = ", ".join(f"({_sql_str(s)}, {lo!r}, {hi!r}, {n})" for s, (lo, hi, n) in edges.items())
        counts = con.execute(HISTOGRAM_SQL.format(edges=values), params).df()
        for sensor, row in pooled.iterrows():
            windows = per_window[(per_window.sensor == sensor) & (per_window.household_id == "*")]
            partition, kl_max = _histogram(counts[counts.sensor == sensor], *edges[sensor])
            stats = {s: (float(windows[s].mean()), float(windows[s].std(ddof=1)) if len(windows) > 1 else 0.0,
                         float(row[s])) for s in STATS}
            sensors[sensor] = SensorReference(sensor, _kind(sensor), len(windows), int(row.n), stats, partition, kl_max)
    return Reference(window, sensors, _household_stats(per_window))


def _household_stats(per_window: pd.DataFrame) -> pd.DataFrame:
    """Per household and continuous sensor: window means' center, mean window std and band (q95 - q05)."""
    rows = per_window[(per_window.household_id != "*") & per_window.sensor.map(lambda s: _kind(s) == "continuous")]
    rows = rows.assign(band=rows.q95 - rows.q05)
    grouped = rows.groupby(["household_id", "sensor"])
    return pd.DataFrame({
        "n_windows": grouped.size(), "n_values": grouped.n.sum(), "mean_center": grouped["mean"].mean(),
        "mean_spread": grouped["mean"].std(ddof=1).fillna(0.0), "std_center": grouped["std"].mean(),
        "band": grouped.band.mean(),
    }).reset_index()


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


CURRENT_VALUES_SQL = """
select * from (
    select household_id, sensor, value from raw.readings
    where batch_id = $batch_id and reading_at between $cs and $ce
      and sensor not in (select unnest($excluded::varchar[]))
) using sample reservoir({max_values} rows) repeatable (42)
"""


def current_values(con, batch: Batch, window: DriftWindow) -> pd.DataFrame:
    """The batch's readings in the current window (a bounded, seeded sample when there are many)."""
    params = {"batch_id": batch.batch_id, "cs": window.current_start, "ce": window.current_end,
              "excluded": list(config.DRIFT_EXCLUDED_SENSORS)}
    # DuckDB takes only a literal sample size; the value is an int from config
    return con.execute(CURRENT_VALUES_SQL.format(max_values=int(config.DRIFT_MAX_VALUES)), params).df()


HOUSEHOLD_CURRENT_SQL = """
select household_id, sensor, count(*) as n, avg(value) as mean, coalesce(stddev_samp(value), 0) as std
from raw.readings
where batch_id = $batch_id and reading_at between $cs and $ce
group by all
"""


def household_frame(con, batch: Batch, reference: Reference) -> pd.DataFrame:
    """Per household and continuous sensor: the current mean's shift in reference bands, the spread ratio."""
    w = reference.window
    current = con.execute(HOUSEHOLD_CURRENT_SQL, {"batch_id": batch.batch_id, "cs": w.current_start,
                                                  "ce": w.current_end}).df()
    frame = current.merge(reference.households, on=["household_id", "sensor"], how="inner")
    frame = frame[(frame.n_windows >= config.REFERENCE_MIN_WINDOWS) & (frame.n >= config.HOUSEHOLD_MIN_VALUES)]
    floor = frame.sensor.map(_band_floor) if len(frame) else pd.Series(dtype=float)
    frame = frame.assign(
        mean_shift_bands=(frame["mean"] - frame.mean_center) / np.maximum(frame.band, floor),
        spread_ratio=frame["std"] / np.maximum(frame.std_center, floor),
    )
    return frame.sort_values(["household_id", "sensor"]).reset_index(drop=True)


def _band_floor(sensor: str) -> float:
    known = config.sensor_types().get(sensor)
    return config.BAND_FLOOR_FRACTION * (known.typical_level if known else 1.0)


def store_reference(con, reference: Reference, computed_at: dt.datetime) -> int:
    """Replace this reference's rows in dq.reference_stats; returns how many were written."""
    w = reference.window
    rows = []
    for s in reference.sensors.values():
        for stat, (center, spread, pooled) in s.stats.items():
            rows.append((s.sensor, "*", stat, center, spread, pooled, s.n_windows, s.n_values, None))
        rows.append((s.sensor, "*", "histogram", s.kl_reference_max, None, None, s.n_windows, s.n_values,
                     json.dumps(s.histogram)))
    for h in reference.households.itertuples():
        rows.append((h.sensor, h.household_id, "mean", h.mean_center, h.mean_spread, None, h.n_windows, h.n_values, None))
        rows.append((h.sensor, h.household_id, "std", h.std_center, None, None, h.n_windows, h.n_values, None))
        rows.append((h.sensor, h.household_id, "band", h.band, None, None, h.n_windows, h.n_values, None))
    frame = pd.DataFrame(rows, columns=["sensor", "household_id", "stat", "center", "spread", "pooled",
                                        "n_windows", "n_values", "details"])
    frame = frame.assign(reference_id=reference.reference_id, period_start=w.reference_start,
                         period_end=w.reference_end, computed_at=computed_at)
    con.execute("delete from dq.reference_stats where reference_id = ?", [reference.reference_id])
    con.register("dq_new_reference", frame)
    con.execute("insert into dq.reference_stats by name select * from dq_new_reference")
    con.unregister("dq_new_reference")
    return len(rows)
