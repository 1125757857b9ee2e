"""Benchmark: one scheduled batch of one new day vs a full rebuild, at the default scale.

    .venv/bin/python bench/bench_batch.py --db PATH [--work DIR]

PATH is a built warehouse at the default scale (100 households x 180 days) with a production
model (bench/bench_score.py makes one). It is copied to DIR (default: next to it) and left
untouched. On the copy:

1. `homewatch batch` once, to reach a steady state (checks and scores whatever is pending), and
   `dbt parse`, so that dbt's parse cache for the copy's path exists, as after any earlier run;
2. one more simulated day is landed (`homewatch simulate --append --days 1`: not timed as
   part of the job, it stands for the readings arriving);
3. `homewatch batch` in a fresh process, as cron or systemd runs it: incremental dbt build,
   quality check of the new batch, scoring of the new steps, anomaly marts, anomaly report;
   timed per step (a step's time runs from its first progress line to the next step's, so
   the start-up of the dbt run that refreshes the marts counts under `score`), with peak memory;
4. the full rebuild the batch job saves: `dbt build --full-refresh`, a rescore of every step
   (a full refresh recomputes every batch), the anomaly marts and the report.

Target (issue 6): the batch takes <= 10% of the full rebuild.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import peak_rss_mb, record  # noqa: E402


class StepClock:
    """Progress callback that records when each step first spoke, to split the job's time."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []
        self.started = time.perf_counter()

    def __call__(self, step: str, message: str) -> None:
        now = time.perf_counter()
        if not self.marks or self.marks[-1][0] != step:
            self.marks.append((step, now))
        print(f"{now - self.started:7.2f} [{step}] {message}", flush=True)

    def split(self, end: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for (step, t), (_, t_next) in zip(self.marks, [*self.marks[1:], ("end", end)]):
            out[step] = round(out.get(step, 0.0) + t_next - t, 2)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="a built, scored warehouse at the default scale")
    parser.add_argument("--work", type=Path, help="folder for the copy (default: next to --db)")
    parser.add_argument("--batch-only", action="store_true",
                        help="time the batch and stop: no full rebuild, nothing recorded (for trying changes)")
    args = parser.parse_args()

    from models_ml.score import score
    from scripts.anomaly_report import write_anomaly_report
    from scripts.jobs import PREDICTION_MARTS, run_pipeline
    from warehouse.connection import reader, writer
    from warehouse.land import land_simulation
    from warehouse.transform import build, run_dbt

    source = Path(args.db).resolve()
    work = (args.work or source.parent) / "bench_batch"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "w.duckdb"
    figures: dict = {}
    t = time.perf_counter()
    shutil.copy(source, db)
    figures["copy_s"] = round(time.perf_counter() - t, 1)
    reports = work / "reports"
    with reader(db) as con:
        figures["households"], figures["steps_before"] = con.execute(
            "select count(distinct household_id), count(*) from marts.fct_ml_features").fetchone()

    t = time.perf_counter()
    run_pipeline(db, job="batch", report_dir=reports, progress=lambda s, m: print(f"[{s}] {m}", flush=True))
    # a warehouse the job has run on keeps dbt's parsed project next to it (<file>.dbt/); the
    # copy's path is new to dbt, so parse once, as the previous scheduled run would have
    run_dbt(["parse"], db=db)
    figures["steady_state_batch_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    landed = land_simulation(db=db, append_days=1)
    figures["land_one_day_s"] = round(time.perf_counter() - t, 1)
    figures["readings_in"] = landed.rows_loaded

    # as cron or systemd runs it: a fresh process (its imports, Great Expectations' included, count)
    env = {**os.environ, "HOMEWATCH_REPORTS_DIR": str(reports)}
    t = time.perf_counter()
    clock = StepClock()
    with subprocess.Popen([str(Path(sys.executable).with_name("homewatch")), "batch", "--db", str(db)], env=env,
                          stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stderr:
            if line.startswith("["):
                step, _, message = line[1:].partition("] ")
                clock(step, message.rstrip())
        summary = proc.stdout.read()
    end = time.perf_counter()
    if proc.returncode != 0:
        raise SystemExit(f"homewatch batch failed (exit {proc.returncode})")
    print(summary, flush=True)
    figures["batch_one_day_s"] = round(end - t, 1)
    figures["batch_steps_s"] = {"start": round(clock.marks[0][1] - t, 2), **clock.split(end)}
    with reader(db) as con:
        figures["batch_steps_scored"] = con.execute(
            "select steps_scored from ops.job_runs order by started_at desc limit 1").fetchone()[0]
    figures["batch_peak_rss_mb"] = round(peak_rss_mb())
    if args.batch_only:
        print(figures, flush=True)
        return

    full: dict[str, float] = {}
    t0 = time.perf_counter()
    build(db=db, full_refresh=True, progress=lambda m: None)
    full["dbt_full_refresh"] = round(time.perf_counter() - t0, 1)
    t = time.perf_counter()
    with writer(db) as con:
        rescored = score(con, progress=lambda m: None).steps_scored
    full["score_all"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    build(db=db, select=PREDICTION_MARTS, progress=lambda m: None)
    full["marts"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    write_anomaly_report(db, reports / "anomalies_full.html")
    full["report"] = round(time.perf_counter() - t, 1)
    figures["full_rebuild_s"] = round(time.perf_counter() - t0, 1)
    figures["full_rebuild_steps_s"] = full
    figures["full_rebuild_steps_scored"] = rescored
    figures["batch_share_of_full"] = round(figures["batch_one_day_s"] / figures["full_rebuild_s"], 4)
    record("batch", figures, {"batch_share_of_full": ("<=", 0.10)})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
