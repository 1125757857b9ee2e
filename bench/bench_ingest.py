"""Benchmark: ingest a long-format CSV (timestamp,household,sensor,value) into a fresh warehouse.

Target: >= 1,000,000 rows/s for 10M rows on 2 cores, counting everything ingest_files does
(hashing, validation, CSV parse, casts, insert, commit). The file is written by DuckDB
(100 households x 6 sensors at 5-minute steps) and is not part of the timing.

    .venv/bin/python bench/bench_ingest.py [--rows 10000000] [--keep]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from bench._harness import peak_rss_mb, record, timed  # noqa: E402
from warehouse.connection import reader  # noqa: E402
from warehouse.ingest import ingest_files  # noqa: E402

HOUSEHOLDS = 100
SENSORS = ["temperature", "humidity", "co2", "power", "motion", "door"]


def write_csv(path: Path, rows: int) -> None:
    """rows readings in file order: step-major, then household, then sensor."""
    per_step = HOUSEHOLDS * len(SENSORS)
    sensors = "[" + ", ".join(f"'{s}'" for s in SENSORS) + "]"
    con = duckdb.connect()
    con.execute(f"""
        copy (
            select strftime(timestamp '2024-01-01' + to_minutes(cast(i // {per_step} as integer) * 5),
                            '%Y-%m-%d %H:%M:%S') as timestamp,
                   'hh_' || lpad(cast((i // {len(SENSORS)}) % {HOUSEHOLDS} as varchar), 3, '0') as household,
                   {sensors}[(i % {len(SENSORS)}) + 1] as sensor,
                   round(20 + 5 * sin(i / 6000.0) + random(), 2) as value
            from range({rows}) t(i)
        ) to '{path}' (header, delimiter ',')""")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the CSV and the database, and print where")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        csv, db = tmp / "readings_long.csv", tmp / "bench.duckdb"
        figures: dict = {"rows": args.rows}
        with timed(figures, "write_csv_s"):
            write_csv(csv, args.rows)
        figures["file_mb"] = round(csv.stat().st_size / 2**20, 1)
        with timed(figures, "ingest_s"):
            [result] = ingest_files([csv], db=db)
        with reader(db) as con:
            stored = con.execute("select count(*) from raw.readings").fetchone()[0]
        if (result.rows_loaded, result.rows_quarantined, stored) != (args.rows, 0, args.rows):
            raise SystemExit(f"wrong load: {result} with {stored} readings stored")
        figures["rows_per_s"] = round(args.rows / figures["ingest_s"])
        figures["mb_per_s"] = round(figures["file_mb"] / figures["ingest_s"], 1)
        figures["db_mb"] = round(db.stat().st_size / 2**20, 1)
        figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
        record("ingest", figures, {"rows_per_s": (">=", 1_000_000)})
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
