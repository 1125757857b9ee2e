"""Shared fixtures: one tiny seeded warehouse per test session, reused read-only."""
from __future__ import annotations

import pytest

from simulator.config import SimConfig
from simulator.generate import simulate_household

TINY = SimConfig(households=4, days=14, seed=11)
SAMPLE = SimConfig(households=6, days=56, seed=7)


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory):
    """A warehouse holding TINY; tests must only read it."""
    from warehouse.land import land_simulation

    path = tmp_path_factory.mktemp("warehouse") / "tiny.duckdb"
    land_simulation(TINY, db=path)
    return path


@pytest.fixture(scope="session")
def sample_sims():
    """In-memory simulations of SAMPLE, for checks on the signals themselves."""
    return [simulate_household(SAMPLE, i) for i in range(SAMPLE.households)]


@pytest.fixture(scope="session")
def built_db(tiny_db, tmp_path_factory):
    """The tiny warehouse after a full dbt build (a copy: tiny_db stays raw). Read only."""
    import shutil

    from warehouse.transform import build

    path = tmp_path_factory.mktemp("built") / "built.duckdb"
    shutil.copy(tiny_db, path)
    build(db=path)
    return path


def checksum(db, exclude_batch: bool = True) -> tuple:
    """Order-independent fingerprints of the landed readings and events."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        readings = con.execute(
            "select count(*), bit_xor(hash(household_id, sensor, reading_at, value)) from raw.readings"
        ).fetchone()
        events = con.execute(
            "select count(*), bit_xor(hash(event_id, household_id, kind, anomaly_class, event_type, sensor, "
            "start_at, end_at, intensity, description)) from raw.injected_events"
        ).fetchone()
        households = con.execute("select count(*), bit_xor(hash(household_id, profile::varchar)) from raw.households").fetchone()
    finally:
        con.close()
    return readings, events, households
