"""Shared plumbing for bench/ scripts: time a step, read peak memory, record results.

Every script prints its figures and appends them, with the exact command, the
git commit and the machine facts, to bench/results.jsonl and bench/RESULTS.md.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_JSONL = BENCH_DIR / "results.jsonl"
RESULTS_MD = BENCH_DIR / "RESULTS.md"


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0  # Linux reports KiB


@contextmanager
def timed(figures: dict, key: str, cpu_key: str | None = None):
    """Store the wall seconds of the block in figures[key], and with cpu_key the CPU seconds
    (user + system) of the child processes it ran and waited for (dbt's builds) in
    figures[cpu_key]: a second reading of the same work that a busy shared host moves less."""
    start = time.perf_counter()
    cpu_start = _children_cpu_s()
    yield
    figures[key] = round(time.perf_counter() - start, 3)
    if cpu_key:
        figures[cpu_key] = round(_children_cpu_s() - cpu_start, 1)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_facts() -> dict:
    cpu, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    # the vector instructions ONNX Runtime's int8 kernels use: the same "AMD EPYC" scores about
    # 2.5 times faster with AVX-512 VNNI than with AVX2 alone
    simd = "+".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags) or "none"
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "cpu": cpu,
        "simd": simd,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=BENCH_DIR, capture_output=True, text=True
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def record(name: str, figures: dict, targets: dict[str, tuple[str, float]]) -> dict:
    """Print and append one result. targets: figure -> ('<=' or '>=', bound)."""
    checks = {}
    for key, (op, bound) in targets.items():
        value = figures[key]
        checks[key] = {"target": f"{op} {bound}", "met": value <= bound if op == "<=" else value >= bound}
    entry = {
        "benchmark": name,
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "machine": machine_facts(),
        "figures": figures,
        "targets": checks,
    }
    print(json.dumps(entry, indent=2))
    with RESULTS_JSONL.open("a") as fh:
        fh.write(json.dumps(entry) + "\n")
    _append_markdown(entry)
    return entry


def _append_markdown(entry: dict) -> None:
    if not RESULTS_MD.exists():
        RESULTS_MD.write_text(
            "# Benchmark results\n\nAppended by the scripts in bench/ (newest last); "
            "the raw entries are in results.jsonl.\n"
        )
    m = entry["machine"]
    lines = [
        f"\n## {entry['benchmark']} — {entry['at']} (commit {entry['commit']})\n",
        f"`{entry['command']}` on {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']} ({m.get('simd', '?')}), "
        f"Python {m['python']}, DuckDB {m['duckdb']}\n",
        "| figure | value | target | met |",
        "|---|---|---|---|",
    ]
    for key, value in entry["figures"].items():
        check = entry["targets"].get(key)
        target = check["target"] if check else ""
        met = ("yes" if check["met"] else "**no**") if check else ""
        lines.append(f"| {key} | {value} | {target} | {met} |")
    with RESULTS_MD.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def read_sql(db, sql: str):
    """The rows of `sql` on the warehouse file `db`, as a pandas frame (opened read-only)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()
