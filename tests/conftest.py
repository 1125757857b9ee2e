"""Shared fixtures: one tiny seeded warehouse per test session, reused read-only."""
from __future__ import annotations

import pytest

from simulator.config import SimConfig
from models_ml.config import TrainConfig
from simulator.generate import simulate_household

TINY = SimConfig(households=4, days=14, seed=11)
SAMPLE = SimConfig(households=6, days=56, seed=7)
# a quick, small model: enough to exercise training, export, scoring and the reports
QUICK = TrainConfig(epochs=3, hidden=8, layers=2, max_per_class=2000, max_normal=4000, batch_size=256)


def _files(folder) -> dict:
    """Every file under `folder` with its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def _nothing_written_into_the_checkout(tmp_path_factory):
    """Tests write reports, models and warehouses under their tmp dirs only: reports go to a
    session tmp dir (a test may point HOMEWATCH_REPORTS_DIR elsewhere), a command run without
    --db gets a tmp warehouse, never the checkout's or the user's, and models go next to each
    test's warehouse. At the end the checkout's reports/ and warehouse/data/ are as they were."""
    from warehouse.connection import REPO_ROOT

    watched = [REPO_ROOT / "reports", REPO_ROOT / "warehouse" / "data"]
    before = [_files(folder) for folder in watched]
    tmp = tmp_path_factory.mktemp("session_env")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOMEWATCH_REPORTS_DIR", str(tmp / "reports"))
        env.setenv("HOMEWATCH_DB", str(tmp / "no-db-given.duckdb"))
        env.delenv("HOMEWATCH_MODELS_DIR", raising=False)
        yield
    for folder, files in zip(watched, before):
        assert _files(folder) == files, f"a test wrote into the checkout's {folder}"


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


def query(db, sql, params=None) -> list[tuple]:
    """Rows of `sql` on a short read-only connection."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


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


@pytest.fixture(scope="session")
def trained(built_db, tmp_path_factory):
    """A copy of the built warehouse with one quick model trained and registered (production)."""
    import shutil

    from models_ml.pipeline import train_and_register

    db = tmp_path_factory.mktemp("trained") / "w.duckdb"
    shutil.copy(built_db, db)
    outcome = train_and_register(db, QUICK, progress=lambda m: None,
                                 report_dir=tmp_path_factory.mktemp("report"))
    return db, outcome


@pytest.fixture(scope="session")
def batched(trained, tmp_path_factory):
    """The demo warehouse: the trained one after a batch job (everything scored, marts and
    reports written, one run in ops.job_runs). Read only; (db, reports dir)."""
    import shutil

    from scripts.jobs import run_pipeline

    tmp = tmp_path_factory.mktemp("batched")
    db = tmp / "w.duckdb"
    shutil.copy(trained[0], db)
    run_pipeline(db, job="batch", report_dir=tmp / "reports", progress=lambda step, m: None)
    return db, tmp / "reports"
