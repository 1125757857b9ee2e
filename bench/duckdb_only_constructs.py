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
    ("`interval 'N unit'`", r"interval\s+'", "xdb_interval (xdb_date_interval in a RANGE frame over dates)"),
    ("`'infinity'`", r"'infinity'", "xdb_infinity"),
    ("`to_seconds` / `to_hours`", r"\bto_(seconds|hours)\(", "xdb_seconds / xdb_hours"),
    ("`date_diff`", r"\bdate_diff\(", "xdb_date_diff"),
    ("`isodow`", r"\bisodow\(", "xdb_isodow"),
    ("`time_bucket`", r"\btime_bucket\(", "xdb_time_bucket"),
    ("`arg_max`", r"\barg_max\(", "xdb_arg_max"),
    ("`first(... order by ...)`", r"\bfirst\([^)]*order by", "xdb_first_by"),
    ("`median`", r"(?<!xdb_)\bmedian\(", "xdb_median (with over= for windows)"),
    ("`mad`", r"\bmad\(", "xdb_mad (with over= for windows)"),
    ("`quantile_cont`", r"\bquantile_cont\(", "xdb_quantile / xdb_quantiles (Spark: percentile)"),
    ("`ignore nulls`", r"ignore nulls", "xdb_last_value_ignore_nulls"),
    ("list functions / literals", r"\blist_contains\(|\blist\(distinct|\[\]", "xdb_list_contains / xdb_sorted_distinct_list / xdb_empty_list / xdb_list_literal"),
    ("`generate_series`", r"\bgenerate_series\(", "xdb_step_series"),
    ("`union all by name`", r"union all by name", "xdb_union_all_by_name (+ xdb_star_by_name)"),
    ("`lateral`", r"\blateral\b", "xdb_unnest_pairs"),
    ("`asof join`", r"\basof\b", "xdb_asof_left_join"),
    ("`* exclude`", r"\*\s*exclude\b", "xdb_exclude"),
    ("`semi join` / `anti join`", r"\b(semi|anti) join", "none yet (Spark: left semi / left anti join)"),
    ("`group by all`", r"group by all", "xdb_group_by_all"),
    ("`replace_window` model without a Spark day partition", None,
     "config(partition_by=xdb_partition_by()) and xdb_partition_day(<time column>) (macros/cross_db/partitions.sql)"),
]


def _unpartitioned(path: Path, text: str) -> int:
    """1 for a model built with the replace_window strategy (intermediate/'s default, or its own
    config) that has no day partition for Spark, else 0."""
    if path.suffix != ".sql" or not str(path.relative_to(ROOT)).startswith("models/"):
        return 0
    materialized = re.search(r"materialized\s*=\s*'(\w+)'", text)
    strategy = re.search(r"incremental_strategy\s*=\s*'(\w+)'", text)
    replaces = (strategy.group(1) == "replace_window" if strategy else
                "/intermediate/" in str(path) and not (materialized and materialized.group(1) != "incremental"))
    return int(replaces and "xdb_partition_by()" not in text)


def constructs() -> dict[str, list[tuple[str, int, str]]]:
    out = {}
    files = sorted([*ROOT.glob("models/**/*.sql"), *ROOT.glob("macros/*.sql"), ROOT / "dbt_project.yml"])
    for path in files:
        if path.name == "get_where_subquery.sql":
            continue   # DuckDB's own by design; the Spark target uses cross_db/spark_get_where_subquery.sql
        text = re.sub(r"\{#.*?#\}", "", re.sub(r"--[^\n]*", "", path.read_text()), flags=re.S)
        text = re.sub(r"\{%.*?%\}", "", text, flags=re.S)   # Jinja statements: `{% set x = [] %}` is not SQL
        hits = [(name, len(re.findall(pattern, text, flags=re.I)) if pattern else _unpartitioned(path, text), macro)
                for name, pattern, macro in PATTERNS]
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
