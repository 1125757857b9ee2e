"""Benchmark skeleton (issue 19): the same warehouse built and scored on DuckDB and on local
Spark, at 10, 30 and 100 homes x 30 days, in seconds per million readings, so the scaling curve
can be extrapolated (docs/scale-out.md, "The path to a cluster").

    .venv/bin/python bench/bench_spark.py [--households 10 30 100] [--days 30] [--record]

What it can measure today: on DuckDB the full build and scoring; on Spark the landing copy
(warehouse/spark_land.py), the staging models converted so far, and scoring with mapInPandas
(on DuckDB's features, put on the Spark side, as the features models are not converted yet).
When the rest of the project runs on Spark, SPARK_SELECT becomes the whole project. Slow: a
Spark session alone takes ~20 s here. Needs `make spark`. Prints the figures; --record appends
them to bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.config import SimConfig  # noqa: E402
from warehouse.land import land_simulation  # noqa: E402

SPARK_SELECT = "stg_ml__model_registry stg_ml__predictions stg_raw__batches stg_raw__households stg_raw__injected_events"


def _run(db: Path, households: int, days: int) -> dict:
    import duckdb

    from models_ml.config import TrainConfig
    from models_ml.pipeline import train_and_register
    from models_ml.score import score
    from models_ml.spark_score import score_spark
    from warehouse.connection import writer
    from warehouse.spark_query import spark_session
    from warehouse.transform import build

    land_simulation(SimConfig(households, days), db=db)
    con = duckdb.connect(str(db), read_only=True)
    readings = con.execute("select count(*) from raw.readings").fetchone()[0]
    con.close()
    out = {"households": households, "days": days, "readings": readings}
    t = time.perf_counter()
    build(db=db)
    out["duckdb_build_s"] = time.perf_counter() - t
    train_and_register(db, TrainConfig(epochs=1, hidden=8, layers=2, max_per_class=2000, max_normal=4000),
                       progress=lambda m: None, report_dir=db.parent / "report")
    with writer(db) as w:
        w.execute("delete from ml.predictions")
        t = time.perf_counter()
        score(w, progress=lambda m: None, force=True)
        out["duckdb_score_s"] = time.perf_counter() - t
        features = Path(f"{db}.spark") / "lake" / "marts" / "fct_ml_features"
        features.mkdir(parents=True)
        w.execute(f"copy marts.fct_ml_features to '{features / 'part-0.parquet'}' (format parquet)")
    t = time.perf_counter()
    build(db=db, target="spark", select=SPARK_SELECT)
    out["spark_land_and_staging_s"] = time.perf_counter() - t
    spark = spark_session(db)
    spark.sql("create database if not exists marts")
    spark.sql(f"create table if not exists marts.fct_ml_features using parquet location '{features}'")
    t = time.perf_counter()
    score_spark(db, progress=lambda m: None)
    out["spark_score_s"] = time.perf_counter() - t
    million = readings / 1e6
    for key in [k for k in out if k.endswith("_s")]:
        out[key.replace("_s", "_s_per_m_readings")] = round(out[key] / million, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:   # one size in this process: Spark keeps one catalog per process
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(_run(Path(tmp) / "bench.duckdb", args.households[0], args.days)), flush=True)
        return
    for n in args.households:
        result = subprocess.run([sys.executable, __file__, "--one", "--households", str(n), "--days", str(args.days)],
                                check=True, capture_output=True, text=True)
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(row, flush=True)
        if args.record:
            from bench._harness import record

            record("bench_spark", row, {})


if __name__ == "__main__":
    main()
