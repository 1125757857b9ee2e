"""List the DuckDB-only constructs left in dbt_project/, per file, with the cross-database macro
(dbt_project/macros/cross_db/) that replaces each: the work list of docs/scale-out.md.

    .venv/bin/python bench/duckdb_only_constructs.py

A grep, not a parser: SQL and Jinja comments are skipped, but a Jinja `[]` or a word in a string
can still count. The models are being rewritten; run it again rather than trusting an old list.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "dbt_project"
PATTERNS = [
    ("`::` casts", r"::\s*[a-z]+", "xdb_cast"),
    ("`interval 'N unit'`", r"interval\s+'", "xdb_interval"),
    ("`step_interval()` (a DuckDB interval literal)", r"step_interval\(\)", "xdb_interval(grid_step_seconds(), 'seconds')"),
    ("`date_diff`", r"date_diff\(", "xdb_date_diff"),
    ("`isodow`", r"isodow\(", "xdb_isodow"),
    ("`time_bucket`", r"time_bucket\(", "xdb_time_bucket"),
    ("`arg_max`", r"arg_max\(", "xdb_arg_max"),
    ("`first(... order by ...)`", r"\bfirst\([^)]*order by", "xdb_first_by"),
    ("`median`", r"\bmedian\(", "xdb_median (with over= for windows)"),
    ("`mad`", r"\bmad\(", "xdb_mad (with over= for windows)"),
    ("`quantile_cont`", r"quantile_cont\(", "none yet (Spark: percentile)"),
    ("`filter (where ...)`", r"filter\s*\(\s*where", "xdb_filtered (Spark takes FILTER too; only median/mad inside need the macros)"),
    ("list functions / literals", r"list_contains\(|\blist\(distinct|\[\]", "xdb_list_contains / xdb_sorted_distinct_list / xdb_empty_list"),
    ("`generate_series`", r"generate_series\(", "xdb_step_series"),
    ("`union all by name`", r"union all by name", "none yet (explicit column lists)"),
    ("`lateral`", r"\blateral\b", "none yet"),
    ("`semi join` / `anti join`", r"\b(semi|anti) join", "none yet (Spark: left semi / left anti join)"),
    ("`group by all`", r"group by all", "none yet (explicit group by)"),
    ("`replace_window` strategy", r"replace_window", "Spark needs partition_by=[a day column] (macros/cross_db/spark_replace_window.sql)"),
]


def constructs() -> dict[str, list[tuple[str, int, str]]]:
    out = {}
    files = sorted([*ROOT.glob("models/**/*.sql"), *ROOT.glob("macros/*.sql"), ROOT / "dbt_project.yml"])
    for path in files:
        text = re.sub(r"\{#.*?#\}", "", re.sub(r"--[^\n]*", "", path.read_text()), flags=re.S)
        hits = [(name, len(re.findall(pattern, text, flags=re.I)), macro) for name, pattern, macro in PATTERNS]
        hits = [h for h in hits if h[1]]
        if hits:
            out[str(path.relative_to(ROOT))] = hits
    return out


if __name__ == "__main__":
    total = 0
    for path, hits in constructs().items():
        print(f"- `{path}`: " + "; ".join(f"{name} x{n} -> {macro}" for name, n, macro in hits))
        total += sum(n for _, n, _ in hits)
    print(f"\n{total} DuckDB-only constructs left")
