"""Benchmark: the dbt build at the default scale (100 households x 180 days, 5-minute steps).

Targets (issue 3): full build <= 5 minutes wall and <= 8 GB peak memory on 2 cores; an
incremental build after one new day <= 10% of the full build's time.

    .venv/bin/python bench/bench_dbt.py [--households 100] [--days 180] [--db PATH]

The dbt builds run as child processes (as `homewatch build` does); peak memory is that of the
largest child (DuckDB's limit: $HOMEWATCH_DUCKDB_MEMORY, default 6GB).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import peak_rss_mb, record, timed  # noqa: E402
from simulator.config import SimConfig  # noqa: E402
from warehouse.land import land_simulation  # noqa: E402
from warehouse.transform import build  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=100)
    parser.add_argument("--days", type=int, default=180)
    args = parser.parse_args()
    figures: dict = {"households": args.households, "days": args.days}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        land_simulation(SimConfig(args.households, args.days), db=db)
        with timed(figures, "full_build_s"):
            build(db=db)
        land_simulation(db=db, append_days=1)
        with timed(figures, "incremental_1_day_s"):
            build(db=db)
        figures["db_mb"] = round(db.stat().st_size / 2**20, 1)
    figures["incremental_share"] = round(figures["incremental_1_day_s"] / figures["full_build_s"], 3)
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    record("dbt_build", figures, {
        "full_build_s": ("<=", 300.0),
        "peak_rss_mb": ("<=", 8192.0),
        "incremental_share": ("<=", 0.10),
    })


if __name__ == "__main__":
    main()
