"""Benchmark: simulate and land the default scale (100 households x 180 days, 5-minute steps).

Targets (issue 2): <= 60 s wall to generate and land, <= 4 GB peak memory, on 2 cores.

    .venv/bin/python bench/bench_simulate.py [--households 100] [--days 180]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from bench._harness import peak_rss_mb, record, timed  # noqa: E402
from simulator.config import SimConfig  # noqa: E402
from warehouse.land import land_simulation  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=100)
    parser.add_argument("--days", type=int, default=180)
    args = parser.parse_args()
    figures: dict = {"households": args.households, "days": args.days}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        with timed(figures, "simulate_and_land_s"):
            result = land_simulation(SimConfig(args.households, args.days), db=db)
        with timed(figures, "append_1_day_s"):
            land_simulation(db=db, append_days=1)
        con = duckdb.connect(str(db), read_only=True)
        figures["readings"] = con.execute("select count(*) from raw.readings").fetchone()[0]
        con.close()
        figures["db_mb"] = round(db.stat().st_size / 2**20, 1)
    figures["events"] = result.events
    figures["readings_per_s"] = round(result.rows_loaded / figures["simulate_and_land_s"])
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    record("simulate", figures, {"simulate_and_land_s": ("<=", 60.0), "peak_rss_mb": ("<=", 4096.0)})


if __name__ == "__main__":
    main()
