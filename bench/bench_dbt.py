"""Benchmark: the dbt build at the default scale (100 households x 180 days, 5-minute steps).

Targets (issue 18 section 3, on the machine of the baseline): a full build at most 60% of the
baseline's time (--baseline-s: 338 s, the full build of commit 599e3e0 on the 2-core AVX-512
machine), peak memory at most 4 GB, and an incremental build after one new day at most 5% of
the full build's time.

    .venv/bin/python bench/bench_dbt.py [--households 100] [--days 180] [--baseline-s 338]
    .venv/bin/python bench/bench_dbt.py --households 30 --days 60 --no-record   # a profile

The dbt builds run as child processes (as `homewatch build` does); peak memory is that of the
largest child (DuckDB's limit: $HOMEWATCH_DUCKDB_MEMORY, default 3.5GB). Each build's CPU
seconds (user + system of dbt's process) are recorded beside its wall time: on a shared host the
wall time of one build moved 1.7x within two hours (bench/RESULTS.md), so compare a change with
its baseline back to back, by both; --baseline-cpu-s gives the CPU share too. Each build's
slowest dbt nodes (from dbt's run_results.json; one runs at a time, HOMEWATCH_DBT_THREADS=1)
are printed, to say where the time goes. The targets are for the default scale: at a small one
dbt's fixed cost (start-up, ~170 nodes) dominates the incremental build, so its share there says
little.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import peak_rss_mb, record, timed  # noqa: E402
from simulator.config import SimConfig  # noqa: E402
from warehouse.land import land_simulation  # noqa: E402
from warehouse.transform import build, dbt_target_path  # noqa: E402

BASELINE_FULL_BUILD_S = 338.0  # commit 599e3e0, default scale, 2-core AVX-512 machine


def slowest_nodes(db: Path, n: int = 12) -> list[tuple[str, float]]:
    """The n dbt nodes of the last build that took longest: (name, seconds)."""
    results = json.loads((dbt_target_path(db.resolve()) / "run_results.json").read_text())["results"]
    times = sorted(((r["unique_id"].split(".")[-1] if r["unique_id"].startswith("model.") else r["unique_id"],
                     round(r["execution_time"], 2)) for r in results), key=lambda t: -t[1])
    return times[:n]


def print_slowest(label: str, db: Path) -> None:
    print(f"slowest dbt nodes, {label}:")
    for name, seconds in slowest_nodes(db):
        print(f"  {seconds:8.2f} s  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=100)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--baseline-s", type=float, default=BASELINE_FULL_BUILD_S,
                        help="the full build's seconds before issue 18 on this machine (target: 60%% of it)")
    parser.add_argument("--baseline-cpu-s", type=float, default=None,
                        help="the baseline full build's CPU seconds on this machine, to record the CPU share too")
    parser.add_argument("--no-record", action="store_true",
                        help="print the figures only (a profile at a small scale), not into bench/RESULTS.md")
    args = parser.parse_args()
    figures: dict = {"households": args.households, "days": args.days}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        land_simulation(SimConfig(args.households, args.days), db=db)
        with timed(figures, "full_build_s", "full_build_cpu_s"):
            build(db=db)
        print_slowest("full build", db)
        land_simulation(db=db, append_days=1)
        with timed(figures, "incremental_1_day_s", "incremental_1_day_cpu_s"):
            build(db=db)
        print_slowest("one-day incremental build", db)
        figures["db_mb"] = round(db.stat().st_size / 2**20, 1)
    figures["full_build_share_of_baseline"] = round(figures["full_build_s"] / args.baseline_s, 3)
    if args.baseline_cpu_s:
        figures["full_build_cpu_share_of_baseline"] = round(figures["full_build_cpu_s"] / args.baseline_cpu_s, 3)
    figures["incremental_share"] = round(figures["incremental_1_day_s"] / figures["full_build_s"], 3)
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if args.no_record:
        print(json.dumps(figures, indent=2))
        return
    record("dbt_build", figures, {
        "full_build_share_of_baseline": ("<=", 0.60),
        "peak_rss_mb": ("<=", 4096.0),
        "incremental_share": ("<=", 0.05),
    })


if __name__ == "__main__":
    main()
