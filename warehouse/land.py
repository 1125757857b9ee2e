"""Land simulated households in the raw schema, through Arrow, in one transaction.

A warehouse holds at most one simulation. Simulating again with the same
parameters and more days (or `append`) lands only the new days; because the
simulator is prefix-stable, the result is identical to simulating the longer
period in one go. Different parameters need `replace=True`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from simulator.config import GENERATOR_VERSION, SENSORS, SimConfig
from simulator.generate import HouseholdSim, iter_households
from warehouse.connection import WarehouseError, transaction, utcnow, writer

SIMULATION_ID = "default"
SENSOR_DICTIONARY = pa.array(SENSORS, type=pa.string())


@dataclasses.dataclass(frozen=True)
class LandResult:
    batch_id: str | None
    rows_loaded: int
    events: int
    households: int
    first_day: int  # first landed day, counted from the simulation start
    days: int  # days in the warehouse after this call
    skipped: bool
    message: str


def existing_simulation(con) -> SimConfig | None:
    """The simulation this warehouse holds, as a config with the days landed so far."""
    row = con.execute(
        "select households, days, start_at, step_seconds, seed, generator_version "
        "from raw.simulations where simulation_id = ?",
        [SIMULATION_ID],
    ).fetchone()
    if row is None:
        return None
    households, days, start_at, step_seconds, seed, version = row
    if version != GENERATOR_VERSION:
        raise WarehouseError(
            f"this warehouse was simulated by generator version {version}, this code is version "
            f"{GENERATOR_VERSION}; re-simulate with --replace (or use a new --db) to continue"
        )
    return SimConfig(households, days, start_at.date(), step_seconds // 60, seed)


def _same_run(a: SimConfig, b: SimConfig) -> bool:
    return (a.households, a.start, a.step_minutes, a.seed) == (b.households, b.start, b.step_minutes, b.seed)


def _describe(c: SimConfig) -> str:
    return f"{c.households} households from {c.start} at {c.step_minutes}-minute steps, seed {c.seed}"


def land_simulation(
    config: SimConfig | None = None,
    *,
    db=None,
    append_days: int | None = None,
    replace: bool = False,
    chunk_households: int = 10,
    progress: Callable[[str], None] | None = None,
) -> LandResult:
    """Simulate and land `config`, or `append_days` more days of the existing simulation."""
    progress = progress or (lambda _msg: None)
    with writer(db) as con:
        have = existing_simulation(con)
        if append_days is not None:
            if have is None:
                raise WarehouseError("nothing to append to: this warehouse holds no simulation; run `homewatch simulate` first")
            if append_days < 1:
                raise WarehouseError(f"--days must be at least 1 to append, got {append_days}")
            target, first_day = dataclasses.replace(have, days=have.days + append_days), have.days
        elif have is None or (replace and not _same_run(have, config)):
            target, first_day = config, 0
        elif _same_run(have, config):
            if config.days <= have.days:
                msg = f"already simulated: {have.days} days of {_describe(have)}; nothing to add"
                return LandResult(None, 0, 0, have.households, have.days, have.days, True, msg)
            target, first_day = config, have.days
        else:
            raise WarehouseError(
                f"this warehouse already holds a simulation ({have.days} days of {_describe(have)}); "
                "pass --replace to discard it, use --append to extend it, or use another --db"
            )
        with transaction(con):
            if first_day == 0 and have is not None:
                _delete_simulation(con)
            return _land(con, target, first_day, chunk_households, progress)


def _delete_simulation(con) -> None:
    sim_batches = "select batch_id from raw.batches where source = 'simulator'"
    con.execute(f"delete from raw.readings where batch_id in ({sim_batches})")
    con.execute(f"delete from raw.injected_events where batch_id in ({sim_batches})")
    con.execute("delete from raw.households where source = 'simulator'")
    con.execute("delete from raw.batches where source = 'simulator'")
    con.execute("delete from raw.simulations")


def _land(con, cfg: SimConfig, first_day: int, chunk: int, progress) -> LandResult:
    started = utcnow()
    batch_id = f"sim-{cfg.seed}-d{first_day:04d}-d{cfg.days:04d}"
    first_step = first_day * cfg.steps_per_day
    rows = n_events = 0
    sims: list[HouseholdSim] = []
    for sim in iter_households(cfg):
        sims.append(sim)
        if len(sims) < chunk and sim.household_id != cfg.household_id(cfg.households - 1):
            continue
        rows += _insert_readings(con, cfg, sims, first_step, batch_id, started)
        n_events += _insert_events(con, cfg, sims, first_step, batch_id)
        if first_day == 0:
            _insert_households(con, sims, batch_id, started)
        progress(f"households {sims[0].household_id}..{sim.household_id} landed: {rows:,} readings so far")
        sims = []
    start_at = cfg.start_datetime + dt.timedelta(days=first_day)
    end_at = cfg.start_datetime + dt.timedelta(days=cfg.days)
    source_ref = json.dumps({**dataclasses.asdict(cfg), "start": str(cfg.start), "first_day": first_day})
    con.execute(
        "insert into raw.batches values (?, 'simulator', ?, null, ?, 0, ?, ?, ?, ?, ?, 'loaded', ?)",
        [batch_id, source_ref, rows, cfg.households, start_at, end_at - dt.timedelta(seconds=cfg.step_seconds),
         started, utcnow(), json.dumps({"events": n_events, "generator_version": GENERATOR_VERSION})],
    )
    con.execute(
        "insert or replace into raw.simulations values (?, ?, ?, ?, ?, ?, ?, "
        "coalesce((select created_at from raw.simulations where simulation_id = ?), ?), ?)",
        [SIMULATION_ID, cfg.seed, cfg.households, cfg.start_datetime, cfg.step_seconds, cfg.days,
         GENERATOR_VERSION, SIMULATION_ID, started, utcnow()],
    )
    msg = (f"landed {rows:,} readings and {n_events:,} ground-truth events for days {first_day}-{cfg.days} "
           f"of {_describe(cfg)} (batch {batch_id})")
    return LandResult(batch_id, rows, n_events, cfg.households, first_day, cfg.days, False, msg)


def _insert_readings(con, cfg: SimConfig, sims, first_step: int, batch_id: str, now) -> int:
    hh_codes, sensor_codes, times, values = [], [], [], []
    start_us = int(cfg.start_datetime.replace(tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
    step_us = cfg.step_seconds * 1_000_000
    for h_code, sim in enumerate(sims):
        for s_code, sensor in enumerate(SENSORS):
            idx = np.flatnonzero(sim.valid[sensor][first_step:]) + first_step
            hh_codes.append(np.full(idx.size, h_code, dtype=np.int32))
            sensor_codes.append(np.full(idx.size, s_code, dtype=np.int8))
            times.append(start_us + idx * step_us)
            values.append(sim.values[sensor][idx])
    table = pa.table({
        "household_id": pa.DictionaryArray.from_arrays(
            np.concatenate(hh_codes), pa.array([s.household_id for s in sims])),
        "sensor": pa.DictionaryArray.from_arrays(np.concatenate(sensor_codes), SENSOR_DICTIONARY),
        "reading_at": pa.array(np.concatenate(times), type=pa.timestamp("us")),
        "value": pa.array(np.concatenate(values), type=pa.float64()),
    })
    con.register("sim_chunk", table)
    try:
        con.execute(
            "insert into raw.readings select household_id::varchar, sensor::varchar, reading_at, value, ?, ? "
            "from sim_chunk",
            [batch_id, now],
        )
    finally:
        con.unregister("sim_chunk")
    return table.num_rows


def _insert_events(con, cfg: SimConfig, sims, first_step: int, batch_id: str) -> int:
    step = dt.timedelta(seconds=cfg.step_seconds)
    rows = [
        (f"{sim.household_id}-{ev['event_type']}-{ev['key'][0]}-{ev['key'][1]}", sim.household_id, ev["kind"],
         ev["anomaly_class"], ev["event_type"], ev["sensor"], cfg.start_datetime + ev["s"] * step,
         cfg.start_datetime + ev["e"] * step, ev["intensity"], ev["description"], batch_id)
        for sim in sims for ev in sim.events if ev["s"] >= first_step
    ]
    if rows:
        columns = ["event_id", "household_id", "kind", "anomaly_class", "event_type", "sensor", "start_at",
                   "end_at", "intensity", "description", "batch_id"]
        table = pa.Table.from_pylist([dict(zip(columns, r)) for r in rows])
        con.register("sim_events", table)
        try:
            con.execute(f"insert into raw.injected_events ({', '.join(columns)}) select * from sim_events")
        finally:
            con.unregister("sim_events")
    return len(rows)


def _insert_households(con, sims, batch_id: str, now) -> None:
    con.executemany(
        "insert into raw.households values (?, 'simulator', 'UTC', ?, ?, ?)",
        [(s.household_id, json.dumps(s.profile.to_json_dict()), batch_id, now) for s in sims],
    )
