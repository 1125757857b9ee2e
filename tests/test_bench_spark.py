"""bench/bench_spark.py's arithmetic and arguments, and bench/_harness.py's timer (the benchmarks
themselves are not run here: they build for minutes)."""
from __future__ import annotations

import argparse

import pytest

from bench.bench_spark import Meter, parse_sizes, per_million


def test_sizes_parse_and_bad_ones_are_refused():
    assert parse_sizes("10,30") == [10, 30]
    assert parse_sizes("100") == [100]
    for bad in ("10,x", "0", "-5", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="--sizes"):
            parse_sizes(bad)


def test_seconds_per_million_readings():
    # 529,654 readings built in 24.7 s: 46.63 s per million
    assert per_million(24.7, 529_654) == 46.63
    assert per_million(60.0, 2_000_000) == 30.0
    with pytest.raises(ValueError):
        per_million(1.0, 0)


def test_meter_counts_cpu_and_memory_of_the_process_tree():
    import subprocess
    import sys

    from bench.bench_spark import _tree

    before = sum(rss for rss, _ in _tree().values())
    with Meter() as m:  # a child burns about 1.2 s of CPU while holding 200 MiB
        subprocess.run([sys.executable, "-c",
                        "import time; b = b'x' * (200 * 2**20); t = time.process_time()\n"
                        "while time.process_time() - t < 1.2: pass"], check=True)
    assert m.cpu_s >= 0.8
    assert m.peak - before >= 150 * 2**20
    assert m.wall >= m.cpu_s * 0.5


def test_timed_counts_the_cpu_of_the_children_it_waited_for():
    # bench/bench_dbt.py compares a build with its baseline by wall and CPU seconds; dbt is a
    # child process, so its CPU is the children's, counted once the child has been waited for
    import subprocess
    import sys

    from bench._harness import timed

    figures: dict = {}
    with timed(figures, "busy_s", "busy_cpu_s"):
        subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\n"
                        "while time.process_time() - t < 0.6: pass"], check=True)
    with timed(figures, "idle_s", "idle_cpu_s"):
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.6)"], check=True)
    assert figures["busy_cpu_s"] >= 0.6 and figures["busy_s"] >= 0.6
    assert figures["idle_cpu_s"] < 0.5 <= figures["idle_s"]
