"""The data-quality report: one self-contained HTML file, readable offline.

Everything comes from dq.* with SQL (the report is a view of the stored results, so an old
check can be re-rendered), styles are inline and charts are inline SVG: the page fetches
nothing, unlike Great Expectations' Data Docs, which load their styles and scripts from CDNs.
"""
from __future__ import annotations

import dataclasses
import json
from html import escape
from pathlib import Path

import pandas as pd

from expectations import config, svg
from warehouse.connection import WarehouseError, has_table, reader

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f6f8;color:#263238;
font-size:14px}
main{max-width:1180px;margin:0 auto;padding:20px 28px 40px}h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #cfd8dc;padding-bottom:4px}
.meta{color:#546e7a;font-size:13px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px;
vertical-align:middle;margin-left:8px}
.pass{background:#2e7d32}.fail{background:#c62828}.warn{background:#ef6c00}.skip{background:#78909c}
.tiles{display:flex;gap:12px;margin:16px 0}
.tile{background:#fff;border-radius:8px;padding:10px 16px;box-shadow:0 1px 2px #0002;min-width:120px}
.tile b{display:block;font-size:24px}.tile span{color:#546e7a;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002;border-radius:6px;overflow:hidden}
th,td{text-align:left;padding:6px 9px;border-bottom:1px solid #eceff1;vertical-align:top;font-size:13px}
th{background:#eceff1;font-weight:600}td.obs{max-width:420px;word-break:break-word}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002;border-top:4px solid #2e7d32}
.card.warn{border-top-color:#ef6c00}.card.fail{border-top-color:#c62828}
.card h3{margin:0 0 6px;font-size:15px}.card .row{font-size:12px;color:#455a64;margin:4px 0 0}
.small{font-size:12px;color:#546e7a}
details{background:#fff;border-radius:6px;margin:8px 0;padding:6px 10px;box-shadow:0 1px 2px #0002}
summary{cursor:pointer;font-weight:600}
.chart{background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 2px #0002;margin-bottom:12px}
"""

SUITE_TITLES = {
    "raw_readings": "Raw readings (per household, sensor and day)",
    "raw_completeness": "Completeness (per household and day)",
    "raw_batch": "The batch as a whole",
    "features_flags": "dbt features and flags",
    "predictions": "Predictions",
    "drift_sensors": "Drift per sensor (all households pooled)",
    "drift_households": "Drift per household",
}


@dataclasses.dataclass
class ReportData:
    batch: dict
    run: dict
    results: pd.DataFrame
    trend: pd.DataFrame  # one row per recently checked batch (its newest run), oldest first
    kl_trend: pd.DataFrame  # batch_id, sensor, ratio of KL to its threshold


def load_report_data(con, batch_id: str | None = None) -> ReportData:
    """The newest check of the batch (default: the newest checked batch) and the recent trend."""
    has_dq = has_table(con, "dq", "check_runs")
    runs = con.execute("select * from dq.check_runs where batch_id = coalesce(?, batch_id) "
                       "order by finished_at desc limit 1", [batch_id]).df() if has_dq else pd.DataFrame()
    if not len(runs):
        raise WarehouseError(f"no quality check on record for {'batch ' + batch_id if batch_id else 'any batch'}: "
                             "run `homewatch check` first")
    run = runs.iloc[0].to_dict()
    batch = con.execute("select * from raw.batches where batch_id = ?", [run["batch_id"]]).df()
    results = con.execute("select * from dq.validation_results where run_id = ?", [run["run_id"]]).df()
    trend = con.execute(f"""
        with latest as (select *, row_number() over (partition by batch_id order by finished_at desc) as rn
                        from dq.check_runs)
        select latest.*, coalesce(b.finished_at, latest.finished_at) as landed_at
        from latest left join raw.batches as b using (batch_id)
        where rn = 1 order by landed_at desc limit {int(config.REPORT_RECENT_BATCHES)}""").df()
    trend = trend.iloc[::-1].reset_index(drop=True)
    kl = con.execute("""
        select batch_id, split_part(expectation, ':', 2) as sensor,
            try_cast(details->>'observed' as double) / nullif(try_cast(details->>'limit' as double), 0) as ratio
        from dq.validation_results
        where expectation like 'distribution_close_to_reference:%' and run_id in (select unnest(?::varchar[]))""",
                     [list(trend.run_id)]).df()
    return ReportData(batch.iloc[0].to_dict() if len(batch) else {"batch_id": run["batch_id"]}, run, results, trend, kl)


def write_report(db, path: Path, batch_id: str | None = None) -> Path:
    """Render the report for the batch's newest check to `path` (HTML); returns the path."""
    with reader(db) as con:
        data = load_report_data(con, batch_id)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    return path


# --- rendering --------------------------------------------------------------------------------


def render(data: ReportData) -> str:
    run, batch = data.run, data.batch
    verdict = '<span class="badge pass">PASSED</span>' if run["passed"] else '<span class="badge fail">FAILED</span>'
    parts = [
        f"<h1>Data quality: batch {escape(str(run['batch_id']))} {verdict}</h1>",
        f'<div class="meta">{_batch_line(batch)}<br>check {escape(run["run_id"])} at {run["finished_at"]:%Y-%m-%d %H:%M} UTC'
        f'{"; drift reference " + _text(run["reference_id"]) if _text(run.get("reference_id")) else ""}</div>',
        _tiles(run),
        _failures(data.results),
        _drift_cards(data.results),
        _household_drift(data.results),
        _trend(data),
        _all_results(data.results),
        _how_to_read(),
    ]
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>HomeWatch data quality: '
            f'{escape(str(run["batch_id"]))}</title><style>{CSS}</style></head><body><main>'
            + "\n".join(parts) + "</main></body></html>")


def _batch_line(batch: dict) -> str:
    if "rows_loaded" not in batch:
        return "the batch is no longer in raw.batches"
    return (f"{escape(str(batch['source']))} batch, {int(batch['rows_loaded']):,} readings from "
            f"{batch['min_reading_at']} to {batch['max_reading_at']} (UTC), landed {batch['finished_at']:%Y-%m-%d %H:%M}")


def _tiles(run: dict) -> str:
    passed = run["n_expectations"] - run["n_failed_critical"] - run["n_failed_warn"] - run["n_not_evaluated"]
    tiles = [(passed, "passed"), (run["n_failed_critical"], "critical failures"),
             (run["n_failed_warn"], "warnings"), (run["n_not_evaluated"], "not evaluated")]
    return '<div class="tiles">' + "".join(f'<div class="tile"><b>{n}</b><span>{label}</span></div>'
                                           for n, label in tiles) + "</div>"


def _text(value) -> str:
    """A cell: empty for null (DuckDB NULLs arrive in pandas as None or NaN)."""
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else escape(str(value))


def _status(row) -> tuple[str, str]:
    if pd.isna(row.success):
        return "skip", "not evaluated"
    if row.success:
        return "pass", "pass"
    return ("fail", "CRITICAL") if row.severity == config.CRITICAL else ("warn", "warning")


def _rows_table(rows: pd.DataFrame, with_suite: bool = True) -> str:
    head = "<tr>" + ("<th>suite</th>" if with_suite else "") + "<th>status</th><th>expectation</th><th>column</th>" \
           "<th>observed</th><th>expected</th></tr>"
    body = []
    for row in rows.itertuples():
        css, label = _status(row)
        body.append("<tr>" + (f"<td>{escape(row.suite)}</td>" if with_suite else "")
                    + f'<td><span class="badge {css}">{label}</span></td><td>{escape(row.expectation)}</td>'
                    f'<td>{_text(row.column_name)}</td><td class="obs">{_text(row.observed_value)}</td>'
                    f"<td>{_text(row.threshold)}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _failures(results: pd.DataFrame) -> str:
    failed = results[results.success.eq(False).fillna(False)].copy()
    skipped = results[results.success.isna()]
    notes = "".join(f"<li>{escape(r.suite)}: {escape(str(r.observed_value))}</li>" for r in skipped.itertuples())
    notes = f'<p class="small">Not evaluated:</p><ul class="small">{notes}</ul>' if notes else ""
    if not len(failed):
        return f"<h2>Failures</h2><p>Every evaluated expectation passed.</p>{notes}"
    failed["order"] = (failed.severity != config.CRITICAL).astype(int)
    return "<h2>Failures</h2>" + _rows_table(failed.sort_values(["order", "suite", "expectation"])) + notes


def _drift_cards(results: pd.DataFrame) -> str:
    drift = results[results.suite == "drift_sensors"]
    evaluated = drift[drift.expectation.str.contains(":") & drift.success.notna()]
    if not len(evaluated):
        notes = "; ".join(f"{_text(r.expectation.partition(':')[2] or 'all sensors')}: {_text(r.observed_value)}"
                          for r in drift.itertuples()) or "no drift results"
        return f"<h2>Drift per sensor</h2><p>Not evaluated: {notes}.</p>"
    cards = []
    for sensor, rows in evaluated.groupby(evaluated.expectation.str.split(":").str[1], sort=True):
        cards.append(_sensor_card(sensor, rows))
    return ("<h2>Drift per sensor</h2><p class=\"small\">Grey bars: the reference histogram (the same hours on the "
            f"previous {config.REFERENCE_DAYS} days); line: this batch's newest {config.DRIFT_WINDOW_HOURS} h. "
            "Green band: the bounds derived from the reference; tick: the observed value.</p>"
            f'<div class="cards">{"".join(cards)}</div>')


def _sensor_card(sensor: str, rows: pd.DataFrame) -> str:
    by_name = {r.expectation.split(":")[0]: r for r in rows.itertuples()}
    worst = "fail" if any(rows.success.eq(False) & rows.severity.eq(config.CRITICAL)) else (
        "warn" if any(rows.success.eq(False)) else "")
    out = [f'<div class="card {worst}"><h3>{escape(sensor)}</h3>']
    kl = by_name.get("distribution_close_to_reference")
    if kl is not None:
        d = json.loads(kl.details)
        ref, cur = d.get("expected_partition", {}), d.get("observed_partition", {})
        out.append(svg.histogram(ref.get("bins", []), ref.get("weights", []), cur.get("weights", []),
                                 failed=not kl.success))
        out.append(f'<div class="row">KL divergence {escape(str(kl.observed_value))} ({escape(kl.threshold)})</div>')
    for name, label in (("mean_within_reference", "mean"), ("spread_within_reference", "std")):
        r = by_name.get(name)
        if r is None:
            continue
        d = json.loads(r.details)
        low, high = (d.get("bounds") or [None, None])
        out.append(f'<div class="row">{label} {escape(str(r.observed_value))}</div>'
                   + svg.range_bar(low, high, d.get("observed")))
    q = by_name.get("quantiles_within_reference")
    if q is not None:
        out.append(f'<div class="row">quantiles {escape(str(q.observed_value))}<br>'
                   f'<span class="small">expected {escape(q.threshold)}</span></div>')
    return "".join(out) + "</div>"


def _household_drift(results: pd.DataFrame) -> str:
    rows = results[(results.suite == "drift_households") & results.success.eq(False).fillna(False)]
    if not len(rows):
        evaluated = results[(results.suite == "drift_households") & results.success.notna()]
        text = "every household is within its own reference" if len(evaluated) else "not evaluated"
        return f"<h2>Drift per household</h2><p>{text}.</p>"
    return "<h2>Drift per household</h2>" + _rows_table(rows, with_suite=False)


def _trend(data: ReportData) -> str:
    t = data.trend
    labels = list(t.batch_id)
    bars = svg.stacked_bars(labels, {"critical": [int(x) for x in t.n_failed_critical],
                                     "warnings": [int(x) for x in t.n_failed_warn]},
                            {"critical": svg.BAD, "warnings": svg.WARN})
    title = f"Trend over the last {len(t)} checked batch{'es' if len(t) != 1 else ''}"
    parts = [f"<h2>{title}</h2>", '<div class="chart"><div class="small">Failed expectations per batch '
             f"(a flat green mark: none)</div>{bars}</div>"]
    if len(data.kl_trend):
        pivot = data.kl_trend.pivot_table(index="batch_id", columns="sensor", values="ratio", aggfunc="max")
        # a batch without drift results (e.g. a few late readings) has no row in the pivot
        series = {s: [None if b not in pivot.index or pd.isna(pivot.at[b, s]) else float(pivot.at[b, s])
                      for b in labels] for s in pivot.columns}
        parts.append('<div class="chart"><div class="small">Drift distance per sensor: KL divergence as a share of '
                     f'its threshold (above the dashed line: a drift warning)</div>{svg.lines(labels, series)}</div>')
    return "".join(parts)


def _all_results(results: pd.DataFrame) -> str:
    parts = ["<h2>All results</h2>"]
    for suite, rows in results.groupby("suite", sort=False):
        failed = int(rows.success.eq(False).sum())
        summary = f"{SUITE_TITLES.get(suite, suite)}: {len(rows)} expectations, {failed} failed"
        parts.append(f"<details{' open' if failed else ''}><summary>{escape(summary)}</summary>"
                     f"{_rows_table(rows, with_suite=False)}</details>")
    return "".join(parts)


def _how_to_read() -> str:
    return ("<h2>How to read this</h2><p class=\"small\">A <b>critical</b> failure blocks scoring of the batch "
            "(the scorer refuses it unless forced); a <b>warning</b> is reported and blocks nothing; <b>not "
            "evaluated</b> means the check had nothing to look at yet (no reference period, dbt has not built the "
            "batch, no predictions). Every row here is in <code>dq.validation_results</code>; the thresholds and "
            "why they are what they are: docs/quality.md.</p>")
