"""The real house of ../shared/realdata/ for benchmarks: loading, and incidents injected into copies.

The data set (UCI "Appliances energy prediction", a low-energy house in Belgium, 10-minute
readings; see ../shared/realdata/README.md) is not part of the repository: `find_house()` says
where it is looked for and returns None when it is absent.

The injector writes labelled incidents into copies of the house, so that a detector can be
measured on a real background. Each copy (`belgian_inj1`, ...) gets one incident of each kind
at a random time, on distinct sensors, so that no sensor's history holds the same incident
twice; the untouched house (`belgian`) is scored alongside as the false-alarm reference.
Intensities are in units of the sensor's own robust spread over the whole period
(1.4826 x MAD, at least 5% of its std), so they mean the same on every sensor:

| kind | sensor | what is written | intensity | duration |
|---|---|---|---|---|
| level_shift | any but the bathroom and living room | + k spreads | k = ±2, 3, 5 | 2-24 h |
| drift | any but the bathroom and living room | a ramp from 0 to k spreads | k = ±3, 5, 8 | 6-48 h |
| spike | any but the bathroom and living room | one reading + k spreads | k = ±6, 10, 20 | one step |
| stuck | an indoor temperature or humidity | the onset value repeated | | 6-24 h |
| heating_failure | T2, the living room | exponential decay towards 10-14 °C, time constant 4-10 h | | 12-48 h |
| heating_failure, `heating="physical"` | T2 | a first-order lag towards the house running free (the outdoor temperature plus 2-5 °C of internal gains), time constant 40-100 h | | 12-48 h |
| humidity_leak | RH_5, the bathroom | a rise over 30 min to 80-95 %RH, held (with the sensor's own short-term wiggle) | | 3-24 h |

The default heating failure is fast (the simulator's homes cool in hours). The house itself
cools far slower: its living room's night cooling, (T2 - T_out) / (-dT2/dt) over the 259 night
hours (00-05 h) in which it fell, has a median time constant of about 70 h (quartiles 57-93 h;
approximate: some of those hours may have had the heating on, which makes it look slower). The
"physical" failure uses 40-100 h: a failed heating lets the room fall about 1-4 degC in its
first 12 hours. Its draws come from a generator of their own, so every other incident (times,
sensors, leaks) is the one the default run injects.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.signals import lag

REPO_ROOT = Path(__file__).resolve().parents[1]
HOUSE_CSV = "belgian_house/energydata_2016-02-14_2016-04-05.csv"
KINDS = ("level_shift", "drift", "spike", "stuck", "heating_failure", "humidity_leak")
NOT_SENSORS = ("rv1", "rv2")  # random variables the data set's authors added: noise, not sensors


def find_house() -> Path | None:
    """The house's CSV in shared/realdata/ beside the repository or a folder above it (a git
    worktree may sit deeper than the main checkout), or None."""
    for root in [REPO_ROOT / "shared" / "realdata", *(up / "shared" / "realdata" for up in REPO_ROOT.parents)]:
        if (root / HOUSE_CSV).exists():
            return root / HOUSE_CSV
    return None


def load_wide(path: Path) -> pd.DataFrame:
    """One row per 10-minute reading, one column per sensor (lower-case names, as ingest makes them)."""
    frame = pd.read_csv(path)
    frame["reading_at"] = pd.to_datetime(frame["date"], format="%d/%m/%Y %H:%M")
    frame = frame.drop(columns=["date", *[c for c in frame.columns if c.lower() in NOT_SENSORS]])
    frame.columns = [c.lower() for c in frame.columns]
    return frame.set_index("reading_at").sort_index().astype(float)


def _spreads(wide: pd.DataFrame) -> dict[str, float]:
    out = {}
    for col in wide.columns:
        x = wide[col].to_numpy(dtype=float)
        mad = np.nanmedian(np.abs(x - np.nanmedian(x)))
        out[col] = max(1.4826 * mad, 0.05 * np.nanstd(x), 1e-3)
    return out


HEATING_MODES = ("fast", "physical")


def _write(wide: pd.DataFrame, kind: str, sensor: str, start: pd.Timestamp, hours: float, k: float,
           rng: np.random.Generator, spread: float, heating: str = "fast",
           outdoor: pd.Series | None = None, heating_rng: np.random.Generator | None = None) -> dict:
    step = wide.index[1] - wide.index[0]
    start = start.floor(step)
    end = start + max(1, round(hours * pd.Timedelta("1h") / step)) * step
    rows = (wide.index >= start) & (wide.index < end)
    n = int(rows.sum())
    elapsed_h = np.arange(n) * (step / pd.Timedelta("1h"))
    x = wide.loc[rows, sensor].to_numpy(dtype=float)
    if kind == "level_shift":
        wide.loc[rows, sensor] = x + k * spread
        what = f"{k:+g} spreads ({k * spread:+.2f})"
    elif kind == "drift":
        wide.loc[rows, sensor] = x + np.linspace(0, k * spread, n)
        what = f"ramp to {k:+g} spreads ({k * spread:+.2f})"
    elif kind == "spike":
        wide.loc[rows, sensor] = x + k * spread
        what = f"{k:+g} spreads ({k * spread:+.2f})"
    elif kind == "stuck":
        wide.loc[rows, sensor] = x[0]
        what = f"stuck at {x[0]:.2f}"
    elif kind == "heating_failure" and heating == "physical":
        rng.uniform(4, 10)  # the fast failure's draw, so that every other incident is the fast run's
        tau, gains = heating_rng.uniform(40, 100), heating_rng.uniform(2, 5)
        # a first-order lag towards the house running free: the untouched house's outdoor
        # temperature (a generic incident may sit on the copy's) plus internal gains. The lag
        # damps the outdoor day-night swing as a house does.
        free = outdoor[rows].interpolate(limit_direction="both").to_numpy(dtype=float) + gains
        # the simulator's lag, fed the free level one step late so that it starts at the room's
        room = lag(np.r_[x[0], free[:-1]], tau / (step / pd.Timedelta("1h")))
        wide.loc[rows, sensor] = room
        what = (f"cools towards the outdoor temperature + {gains:.1f} (time constant {tau:.0f} h; "
                f"{x[0] - room[-1]:.1f} degC down at the end)")
    elif kind == "heating_failure":
        tau = rng.uniform(4, 10)
        wide.loc[rows, sensor] = k + (x[0] - k) * np.exp(-elapsed_h / tau)
        what = f"decay towards {k:.1f} (time constant {tau:.0f} h)"
    else:
        # the sensor's own short-term wiggle rides on the leak's level, as it would on a real one
        wiggle = x - pd.Series(x).rolling(6, min_periods=1, center=True).mean().to_numpy()
        level = x[0] + (k - x[0]) * np.minimum(1.0, elapsed_h / 0.5) + wiggle
        wide.loc[rows, sensor] = np.clip(np.maximum(x, level), 0, 100)
        what = f"rise to {k:.0f} %RH"
    out = {"kind": kind, "sensor": sensor, "start_at": start, "end_at": end, "description": what}
    if kind == "heating_failure":
        out["drop_c"] = round(float(x[0] - wide.loc[rows, sensor].iloc[-1]), 2)  # how far the room fell
    return out


def inject(wide: pd.DataFrame, seed: int, copies: int = 6, first_day: float = 1.0,
           heating: str = "fast") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long readings (household, sensor, reading_at, value) of the untouched house and `copies`
    injected copies, and the injected incidents (household_id, kind, sensor, start_at, end_at).
    heating: "fast" (the default) or "physical" heating failures (the module's docstring)."""
    if heating not in HEATING_MODES:
        raise ValueError(f"heating must be one of {HEATING_MODES}, not {heating!r}")
    rng = np.random.default_rng(seed)
    heating_rng = np.random.default_rng([seed, 16])  # the physical failures' own draws
    spreads = _spreads(wide)
    cols = list(wide.columns)
    indoor = [c for c in cols if (c[0] == "t" and c[1:].isdigit() or c.startswith("rh_"))
              and c not in ("t6", "rh_6", "t2", "rh_5")]
    generic = indoor + [c for c in ("appliances", "t_out", "press_mm_hg", "rh_out", "t6", "rh_6",
                                     "windspeed", "tdewpoint") if c in cols]
    first = wide.index[0] + pd.Timedelta(days=first_day)
    last = wide.index[-1] - pd.Timedelta(days=2.5)  # room for the longest incident to end
    frames, incidents = [wide.assign(household="belgian")], []
    for c in range(copies):
        copy, used, household = wide.copy(), set(), f"belgian_inj{c + 1}"
        for kind in KINDS:
            if kind == "heating_failure":
                sensor = "t2"
            elif kind == "humidity_leak":
                sensor = "rh_5"
            else:
                sensor = str(rng.choice([s for s in (indoor if kind == "stuck" else generic) if s not in used]))
            used.add(sensor)
            start = first + (last - first) * rng.uniform()
            hours = {"level_shift": rng.uniform(2, 24), "drift": rng.uniform(6, 48), "spike": 0.0,
                     "stuck": rng.uniform(6, 24), "heating_failure": rng.uniform(12, 48),
                     "humidity_leak": rng.uniform(3, 24)}[kind]
            sign = rng.choice([-1, 1])
            k = {"level_shift": rng.choice([2, 3, 5]) * sign, "drift": rng.choice([3, 5, 8]) * sign,
                 "spike": rng.choice([6, 10, 20]) * sign, "stuck": 0.0,
                 "heating_failure": rng.uniform(10, 14), "humidity_leak": rng.uniform(80, 95)}[kind]
            incidents.append({"household_id": household,
                              **_write(copy, kind, sensor, start, hours, float(k), rng, spreads[sensor], heating,
                                       wide["t_out"], heating_rng)})
        frames.append(copy.assign(household=household))
    long = (pd.concat(frames).reset_index()
            .melt(id_vars=["reading_at", "household"], var_name="sensor", value_name="value")
            .dropna(subset=["value"]))
    return long, pd.DataFrame(incidents)
