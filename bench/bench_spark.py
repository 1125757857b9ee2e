"""Benchmark (issue 19 section 3): the same warehouse built and scored on DuckDB and on local
Spark, N homes x D days, in wall seconds and seconds per million raw readings, so the scaling
curve can be extrapolated (docs/scale-out.md, "Capacity").

    .venv/bin/python bench/bench_spark.py [--sizes 10,30,100] [--days 30] [--no-record]

Per size, in a child process of its own (Spark keeps one Derby catalog per process):
simulate N homes x D days into a fresh warehouse, `homewatch build` on DuckDB (full), train a
quick model (the test suite's QUICK: 1 epoch, hidden 8), score on DuckDB, then
`homewatch build --target spark` (landing + the whole dbt project, one dbt process, local[2])
and `homewatch score --target spark` (mapInPandas). Each phase reports wall seconds, the CPU
seconds and the peak RSS of this process tree (JVM and Python workers included; sampled from
/proc every 0.5 s, so a process living under 0.5 s can be missed), and the seconds per million
readings. One Spark process at a time. Progress goes to stderr; each finished size is recorded
(bench/RESULTS.md + results.jsonl) before the next starts. Slow: 4 homes x 14 days take about
4 minutes of Spark build on 2 cores. Needs `make spark`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PHASES = ("duckdb_build", "duckdb_score", "spark_build", "spark_score")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def parse_sizes(text: str) -> list[int]:
    """'10,30,100' -> [10, 30, 100]; a clear error for anything but positive whole numbers."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants whole numbers separated by commas, got {text!r}")
    if not sizes or any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError(f"--sizes wants positive household counts, got {text!r}")
    return sizes


def per_million(seconds: float, readings: int) -> float:
    """Seconds per million readings."""
    if readings <= 0:
        raise ValueError("no readings: nothing to divide by")
    return round(seconds * 1e6 / readings, 2)


def _tree() -> dict[int, tuple[int, float]]:
    """This process and its descendants: pid -> (rss bytes, cpu seconds), from /proc."""
    parents: dict[int, int] = {}
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        # utime, stime: fields 14-15 of stat (11-12 here, 0-based after comm); a process's own
        # time only (cutime would count a reaped child twice)
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        stats[pid] = (int(fields[21]) * _PAGE, cpu)
    mine, frontier = set(), {os.getpid()}
    while frontier:
        mine |= frontier
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in mine}
    return {pid: stats[pid] for pid in mine if pid in stats}


class Meter:
    """Peak RSS (summed over the tree) and CPU seconds of this process tree during a block."""

    def __init__(self) -> None:
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self.base: dict[int, float] = {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        tree = _tree()
        self.peak = max(self.peak, sum(rss for rss, _ in tree.values()))
        for pid, (_, cpu) in tree.items():
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> "Meter":
        self.base = {pid: cpu for pid, (_, cpu) in _tree().items()}
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.wall = time.perf_counter() - self._started
        self.cpu_s = max(sum(cpu - self.base.get(pid, 0.0) for pid, cpu in self.cpu.items()), 0.0)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_one(db: Path, households: int, days: int) -> dict:
    """Every phase at one size; the figures of this size."""
    import duckdb

    from models_ml.pipeline import train_and_register
    from models_ml.score import score
    from models_ml.spark_score import score_spark
    from simulator.config import SimConfig
    from tests.conftest import QUICK
    from warehouse.connection import writer
    from warehouse.land import land_simulation
    from warehouse.transform import build

    out: dict = {"households": households, "days": days}
    _say(f"{households} homes x {days} days: simulating")
    t = time.perf_counter()
    land_simulation(SimConfig(households, days), db=db)
    out["simulate_s"] = round(time.perf_counter() - t, 1)
    con = duckdb.connect(str(db), read_only=True)
    out["readings"] = con.execute("select count(*) from raw.readings").fetchone()[0]
    con.close()
    _say(f"{out['readings']:,} readings in {out['simulate_s']} s; DuckDB build")

    def phase(name: str, fn) -> None:
        with Meter() as m:
            fn()
        out[f"{name}_s"] = round(m.wall, 1)
        out[f"{name}_cpu_s"] = round(m.cpu_s, 1)
        out[f"{name}_peak_rss_mb"] = round(m.peak / 2**20)
        out[f"{name}_s_per_m_readings"] = per_million(m.wall, out["readings"])
        _say(f"{name}: {m.wall:.1f} s wall, {m.cpu_s:.1f} s CPU, peak {m.peak / 2**20:.0f} MiB, "
             f"{out[f'{name}_s_per_m_readings']} s per million readings")

    phase("duckdb_build", lambda: build(db=db))
    con = duckdb.connect(str(db), read_only=True)
    out["grid_steps"] = con.execute("select count(*) from marts.fct_ml_features").fetchone()[0]
    con.close()
    _say(f"{out['grid_steps']:,} feature steps; training a quick model (not timed as a phase)")
    t = time.perf_counter()
    train_and_register(db, QUICK, progress=lambda m: None, report_dir=db.parent / "report")
    out["train_s"] = round(time.perf_counter() - t, 1)
    _say(f"trained in {out['train_s']} s; DuckDB score")

    def duck_score() -> None:
        with writer(db) as w:
            w.execute("delete from ml.predictions")
            score(w, progress=lambda m: None, force=True)

    phase("duckdb_score", duck_score)
    _say("Spark build (landing + the whole dbt project, local[2]); minutes")
    phase("spark_build", lambda: build(db=db, target="spark"))
    _say("Spark score (mapInPandas)")
    # forced past the quality gate as DuckDB's above: the bench runs no `homewatch check`
    phase("spark_score", lambda: score_spark(db, progress=lambda m: None, force=True))
    try:
        out["load_average_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    for engine in ("duckdb", "spark"):
        total = out[f"{engine}_build_s"] + out[f"{engine}_score_s"]
        out[f"{engine}_total_s_per_m_readings"] = per_million(total, out["readings"])
    out["spark_over_duckdb_build"] = round(out["spark_build_s"] / out["duckdb_build_s"], 1)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[10, 30, 100],
                        help="household counts, comma-separated (default 10,30,100)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--tmp", default=None, help="folder for the warehouses (default: the system's temp)")
    parser.add_argument("--no-record", action="store_true", help="print the figures only")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.days <= 0:
        parser.error("--days must be positive")
    if args.one:  # one size in this process: its own Spark driver and Derby catalog
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            print(json.dumps(run_one(Path(tmp) / "bench.duckdb", args.sizes[0], args.days)), flush=True)
        return
    for n in args.sizes:
        load_before = round(os.getloadavg()[0], 2)  # other work on the machine before this size
        _say(f"size {n} homes x {args.days} days: child process")
        command = [sys.executable, __file__, "--one", "--sizes", str(n), "--days", str(args.days)]
        if args.tmp:
            command += ["--tmp", args.tmp]
        result = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # stderr: progress, passed on
        if result.returncode:
            sys.exit(f"size {n} failed (exit {result.returncode}); see the output above")
        row = json.loads(result.stdout.strip().splitlines()[-1])
        row["load_average_1m_at_start"] = load_before
        if args.no_record:
            print(json.dumps(row, indent=2), flush=True)
        else:
            from bench._harness import record

            record("spark_vs_duckdb", row, {})


if __name__ == "__main__":
    main()
