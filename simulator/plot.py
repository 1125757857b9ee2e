"""Plot one household's sensors as aligned panels with ground truth shaded."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from simulator.config import ANOMALY_CLASSES, SENSOR_UNITS  # noqa: E402

CLASS_COLOURS = {1: "#4c72b0", 2: "#55a868", 3: "#8172b2", 4: "#dd8452", 5: "#c44e52"}


def load_household(con, household_id: str, start: dt.datetime | None, days: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Readings (long) and ground-truth events of one household over a window.

    With no start, the window is the last `days` of that household's data.
    """
    bounds = con.execute(
        "select min(reading_at), max(reading_at) from raw.readings where household_id = ?", [household_id]
    ).fetchone()
    if bounds[0] is None:
        from warehouse.connection import WarehouseError

        known = [r[0] for r in con.execute("select household_id from raw.households order by 1 limit 5").fetchall()]
        raise WarehouseError(f"household {household_id!r} has no readings (some that do: {', '.join(known) or 'none'})")
    start = start or max(bounds[0], bounds[1] - dt.timedelta(days=days))
    end = start + dt.timedelta(days=days)
    readings = con.execute(
        "select sensor, reading_at, value from raw.readings "
        "where household_id = ? and reading_at >= ? and reading_at < ? order by sensor, reading_at",
        [household_id, start, end],
    ).df()
    events = con.execute(
        "select kind, anomaly_class, event_type, sensor, start_at, end_at, description from raw.injected_events "
        "where household_id = ? and end_at > ? and start_at < ? and kind in ('anomaly', 'fault')",
        [household_id, start, end],
    ).df()
    return readings, events


def plot_household(readings: pd.DataFrame, events: pd.DataFrame, household_id: str, out: str | Path) -> Path:
    """Write a PNG: one panel per sensor, anomalies shaded by class, faults hatched."""
    sensors = list(dict.fromkeys([s for s in SENSOR_UNITS if s in set(readings["sensor"])]
                                 + sorted(set(readings["sensor"]) - set(SENSOR_UNITS))))
    fig, axes = plt.subplots(len(sensors), 1, figsize=(14, 1.7 * len(sensors) + 1), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, sensor in zip(axes, sensors):
        rows = readings[readings["sensor"] == sensor]
        binary = sensor in ("motion", "door", "fire_alarm")
        if binary:
            ax.step(rows["reading_at"], rows["value"], where="post", lw=0.6, color="black")
            ax.set_ylim(-0.1, 1.2)
        else:
            ax.plot(rows["reading_at"], rows["value"], lw=0.6, color="black")
        ax.set_ylabel(f"{sensor}\n({SENSOR_UNITS.get(sensor, '')})", fontsize=8)
        for ev in events.itertuples():
            if ev.kind == "anomaly":
                ax.axvspan(ev.start_at, ev.end_at, color=CLASS_COLOURS[ev.anomaly_class], alpha=0.25, lw=0)
            elif ev.sensor in (None, sensor) or pd.isna(ev.sensor):
                ax.axvspan(ev.start_at, ev.end_at, facecolor="none", edgecolor="grey", hatch="///", lw=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.35) for c in CLASS_COLOURS.values()]
    labels = [f"{k} {ANOMALY_CLASSES[k]}" for k in CLASS_COLOURS]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="grey", hatch="///"))
    labels.append("sensor fault")
    fig.legend(handles, labels, loc="upper center", ncol=6, fontsize=8, frameon=False)
    if len(readings):
        axes[0].set_xlim(readings["reading_at"].min(), readings["reading_at"].max())
    axes[0].set_title(f"household {household_id}", fontsize=10, pad=22)
    fig.autofmt_xdate()
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
