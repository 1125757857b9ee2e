"""Raw data for the Spark target: the landing tables as Parquet files Spark reads as sources.

The choice (docs/scale-out.md): HomeWatch's own commands (`simulate`, `ingest`) keep landing
into the DuckDB warehouse's raw.* tables; before a Spark build, `land_for_spark` copies them to
a Parquet landing zone, `<warehouse>.spark/lake/<schema>/<table>/`, the layout an ingestion job
in production would write straight to object storage:

- raw.readings is partitioned by day (`reading_date=YYYY-MM-DD/`, one file per day). Only the
  days the batches landed since the last copy touch are rewritten (a late reading rewrites its
  day), each day written aside and swapped in with a rename: a re-run copies nothing, and an
  interrupted copy leaves every day either old or new, never half.
- the small tables (households, injected_events, batches, quarantine, ml.model_registry) are
  rewritten whole on every copy, the same way (written aside, swapped in).

dbt reads them through external tables that macros/cross_db/spark_sources.sql registers
(`dbt run-operation spark_register_sources --target spark`, run by `homewatch build --target
spark` before the build).
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from warehouse.connection import reader, require_warehouse

SMALL_TABLES = [("raw", "households"), ("raw", "injected_events"), ("raw", "batches"), ("raw", "quarantine"),
                ("ml", "model_registry")]
READINGS_PARTITION = "reading_date"
_MANIFEST = "_landed_batches.json"


def spark_dir(db=None) -> Path:
    """The Spark side of a warehouse: `<warehouse file>.spark/` (catalog, tables, landing zone);
    $HOMEWATCH_SPARK_DIR for the dbt profile."""
    return Path(f"{require_warehouse(db)}.spark")


def lake_dir(db=None) -> Path:
    return spark_dir(db) / "lake"


def _swap(new: Path, final: Path) -> None:
    """Put the folder `new` at `final`, replacing what was there with two renames."""
    old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def land_for_spark(db=None, progress: Callable[[str], None] | None = None) -> dict:
    """Copy what is new in the DuckDB raw tables to the Parquet landing zone (see the module
    doc). Returns {'days': days rewritten, 'batches': batches newly copied}."""
    lake = lake_dir(db)
    lake.mkdir(parents=True, exist_ok=True)
    manifest = lake / _MANIFEST
    landed = set(json.loads(manifest.read_text())) if manifest.exists() else set()
    with reader(db) as con:
        batches = {r[0] for r in con.execute("select batch_id from raw.batches").fetchall()}
        new = sorted(batches - landed)
        readings_dir = lake / "raw" / "readings"
        if not readings_dir.exists():
            days = [r[0] for r in con.execute(
                "select distinct reading_at::date from raw.readings order by 1").fetchall()]
        elif new:
            con.execute("create temp table _new_batches (batch_id varchar)")
            con.executemany("insert into _new_batches values (?)", [[b] for b in new])
            days = [r[0] for r in con.execute(
                "select distinct reading_at::date from raw.readings where batch_id in "
                "(select batch_id from _new_batches) order by 1").fetchall()]
        else:
            days = []
        readings_dir.mkdir(parents=True, exist_ok=True)
        for day in days:
            part = readings_dir / f"{READINGS_PARTITION}={day.isoformat()}"
            tmp = readings_dir / f".tmp-{part.name}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            con.execute(
                f"copy (select household_id, sensor, reading_at, value, batch_id, ingested_at from raw.readings "
                f"where reading_at >= ?::date and reading_at < ?::date + 1 order by household_id, sensor, reading_at) "
                f"to '{tmp / 'part-0.parquet'}' (format parquet)", [day, day])
            _swap(tmp, part)
        for schema, table in SMALL_TABLES:
            final = lake / schema / table
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.parent / f".tmp-{table}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            con.execute(f"copy (select * from {schema}.{table}) to '{tmp / 'part-0.parquet'}' (format parquet)")
            _swap(tmp, final)
    # the manifest last: a copy interrupted before it is simply redone
    tmp_manifest = manifest.with_suffix(".tmp")
    tmp_manifest.write_text(json.dumps(sorted(batches)))
    os.replace(tmp_manifest, manifest)
    if progress:
        progress(f"landed for Spark: {len(days)} day(s) of readings from {len(new)} new batch(es), "
                 f"{len(SMALL_TABLES)} small tables, under {lake}")
    return {"days": len(days), "batches": len(new)}
