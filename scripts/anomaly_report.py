"""The anomaly report: one self-contained HTML file that people read (`homewatch report`).

What it shows, all read from the warehouse with SQL:
- the batch job's recent runs (ops.job_runs) and what each found;
- the report period: the last `days` of data; or, written by a job run (ReportOptions.batches),
  the new data of the batches it took in: only the households they touched, over the span of
  their readings;
- anomalies per day and class, and every anomaly of the report period with its class, span,
  confidence and rule evidence (marts.fct_classified_anomalies; the rule events of
  marts.fct_anomaly_events while no model has scored);
- for the households with the most anomalies, their sensors as aligned panels with the
  anomalies shaded;
- the production model's evaluation on held-out households (its metadata.json), and links to
  the data-quality and model reports next to it.
Styles and charts are inline (hand-written SVG, no matplotlib): the page fetches nothing.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from html import escape
from pathlib import Path

import pandas as pd

from expectations import svg
from expectations.report import CSS
from simulator.config import ANOMALY_CLASSES, SENSOR_UNITS
from warehouse.alerts.report import feedback_section
from warehouse.connection import has_table, reader, resolve_db_path, utcnow

CLASS_COLOURS = {"temperature_failure": "#4c72b0", "humidity_anomaly": "#55a868", "fridge_failure": "#8172b2",
                 "door_at_night": "#dd8452", "fire": "#c44e52"}
RULE_CLASS = {"heating_failure": "temperature_failure"}  # rule names that differ from their class name
EXTRA_CSS = """
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:middle}
td.num,th.num{text-align:right}.ok{color:#2e7d32}.bad{color:#c62828;font-weight:600}
figure{margin:8px 0 16px;background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 2px #0002}
figure img,figure svg{max-width:100%;height:auto}figcaption{font-size:12px;color:#546e7a}
.cm td{text-align:right;font-variant-numeric:tabular-nums}
nav a{margin-right:14px}
"""


@dataclasses.dataclass
class ReportOptions:
    days: float = 7.0        # the report period: this many days up to the newest step
    households: int = 12     # households plotted (most anomalies first)
    max_rows: int = 300      # anomalies listed
    trend_days: int = 30     # days in the per-day chart
    # the batches a job run took in: the report is about their new data only (the households they
    # touched, over the span of their readings), not about the last `days` of the whole warehouse
    batches: list[str] | None = None


def write_anomaly_report(db, path: Path, options: ReportOptions | None = None,
                         progress: Callable[[str], None] | None = None) -> Path:
    """Render the report to `path` (and nothing else); returns the path."""
    options = options or ReportOptions()
    progress = progress or (lambda _m: None)
    path = Path(path)
    with reader(db) as con:
        page = _render(con, db, path, options, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(path)  # readers never see half a report
    return path


def _anomalies(con) -> tuple[pd.DataFrame, str]:
    """Every anomaly with the report's columns; and where they come from."""
    if has_table(con, "marts", "fct_classified_anomalies") and con.execute(
            "select count(*) > 0 from marts.fct_classified_anomalies").fetchone()[0]:
        return con.execute(
            "select household_id, class_name, start_at, end_at, duration_minutes, mean_confidence as confidence, "
            "array_to_string(rules_fired, ', ') as rules_fired, rule_agrees, rule_observed_value as observed, "
            "rule_expected_value as expected, model_version from marts.fct_classified_anomalies").df(), "classifier"
    if has_table(con, "marts", "fct_anomaly_events"):
        frame = con.execute(
            "select household_id, rule_name as class_name, start_at, end_at, duration_minutes, null as confidence, "
            "rule_name as rules_fired, true as rule_agrees, observed_value as observed, expected_value as expected, "
            "null as model_version from marts.fct_anomaly_events where event_kind = 'anomaly'").df()
        frame["class_name"] = frame["class_name"].map(lambda r: RULE_CLASS.get(r, r))
        return frame, "rules"
    return pd.DataFrame(columns=["household_id", "class_name", "start_at", "end_at", "duration_minutes",
                                 "confidence", "rules_fired", "rule_agrees", "observed", "expected",
                                 "model_version"]), "none"


def _new_data(con, batches: list[str]) -> dict[str, tuple]:
    """household_id -> (first, last) reading of these batches."""
    return {h: (pd.Timestamp(a), pd.Timestamp(b)) for h, a, b in con.execute(
        "select household_id, min(reading_at), max(reading_at) from raw.readings "
        "where batch_id in (select unnest(?::varchar[])) group by 1", [batches]).fetchall()}


def _in_spans(anomalies: pd.DataFrame, spans: dict[str, tuple]) -> pd.DataFrame:
    """The anomalies of the households in `spans` that overlap each one's span of new readings."""
    first = anomalies["household_id"].map({h: a for h, (a, _) in spans.items()})
    last = anomalies["household_id"].map({h: b for h, (_, b) in spans.items()})
    return anomalies[first.notna() & (anomalies["end_at"] > first) & (anomalies["start_at"] <= last)]


def _render(con, db, path: Path, o: ReportOptions, progress) -> str:
    newest = con.execute("select max(max_reading_at) from raw.batches").fetchone()[0]
    anomalies, source = _anomalies(con)
    spans = _new_data(con, o.batches) if o.batches else {}
    windows = None
    if spans:       # a job run's report: its new data only
        start, end = min(a for a, _ in spans.values()), max(b for _, b in spans.values())
        recent = _in_spans(anomalies, spans).sort_values("start_at", ascending=False)
        trend = anomalies[anomalies["household_id"].isin(list(spans))]
        windows = {h: (b - pd.Timedelta(days=o.days), b) for h, (_, b) in spans.items()}
        scope = (f"the new data of {len(o.batches)} batch(es): {len(spans)} household(s), readings from "
                 f"{_ts(start)} to {_ts(end)} UTC")
        label = "in the new data"
    else:
        end = newest or utcnow()
        start = end - dt.timedelta(days=o.days)
        recent = anomalies[anomalies["end_at"] > start].sort_values("start_at", ascending=False)
        trend = anomalies
        scope = f"report period {_ts(start)} to {_ts(end)} UTC"
        label = f"in the last {o.days:g} days"
    production = con.execute("select model_version, val_macro_f1, artifact_dir from ml.model_registry "
                             "where status = 'production'").fetchone() if has_table(con, "ml", "model_registry") else None
    progress(f"{len(recent)} anomalies {label} (up to {end:%Y-%m-%d %H:%M}); plotting up to "
             f"{o.households} households")
    links = [f'<a href="{escape(rel)}">{label}</a>' for rel, label, target in [
        ("quality.html", "data-quality report", path.parent / "quality.html"),
        ("model/evaluation.html", "model evaluation report", path.parent / "model" / "evaluation.html"),
    ] if target.exists()]
    source_line = {"classifier": f"anomalies named by model {escape(production[0]) if production else '?'}",
                   "rules": "no model has scored yet: these are the dbt rule events",
                   "none": "no anomaly table yet: run `homewatch build`"}[source]
    parts = [
        "<h1>HomeWatch anomalies</h1>",
        f'<div class="meta">warehouse {escape(str(resolve_db_path(db)))}; data up to {_ts(newest)} UTC; '
        f"{scope}; {source_line}; generated {_ts(utcnow())} UTC</div>",
        f"<nav>{' '.join(links)}</nav>" if links else "",
        _tiles(recent, anomalies, label),
        _job_runs(con),
        _per_day(trend, end, o.trend_days),
        _table(recent, o.max_rows, label),
        _out_of_distribution(con, production[0] if production else None, start, end),
        _households(con, recent, start, end, o.households, windows),
        _model(production, _origin(con, production[0]) if production else ""),
        feedback_section(con),
        _queries(),
    ]
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>HomeWatch anomalies up to '
            f'{_ts(newest)}</title><style>{CSS}{EXTRA_CSS}</style></head><body><main>'
            + "\n".join(p for p in parts if p) + "</main></body></html>")


def _out_of_distribution(con, version: str | None, start, end) -> str:
    """The households whose steps in the period the model scored as out of its training
    distribution (models_ml/ood.py): their anomalies raise no alert by default."""
    has = version and con.execute("select count(*) from information_schema.columns where table_schema = 'ml' "
                                  "and table_name = 'predictions' and column_name = 'is_out_of_distribution'"
                                  ).fetchone()[0]
    if not has:
        return ""
    rows = con.execute("select household_id, count(*) filter (where is_out_of_distribution), count(*), "
                       "count(*) filter (where is_out_of_distribution and predicted_class <> 0) from ml.predictions "
                       "where model_version = ? and step_at between ? and ? group by 1 "
                       "having count(*) filter (where is_out_of_distribution) > 0 order by 1",
                       [version, start, end]).fetchall()
    if not rows:
        return ""
    body = "".join(f"<tr><td>{escape(h)}</td><td class='num'>{n:,} of {total:,} ({n / total:.0%})</td>"
                   f"<td class='num'>{withheld:,}</td></tr>" for h, n, total, withheld in rows)
    return ("<h2>Out of the model's distribution</h2><p class='small'>Steps whose last day of features is unlike "
            "the homes the model trained on (docs/ml.md): the model's anomalies there raise no alert unless the "
            "dbt var alert_out_of_distribution is true.</p><table><tr><th>household</th><th class='num'>steps "
            "out of distribution</th><th class='num'>anomaly steps withheld</th></tr>" + body + "</table>")


def _ts(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"


def _swatch(name: str) -> str:
    return f'<span class="swatch" style="background:{CLASS_COLOURS.get(name, "#90a4ae")}"></span>{escape(str(name))}'


def _tiles(recent: pd.DataFrame, everything: pd.DataFrame, label: str) -> str:
    counts = recent["class_name"].value_counts()
    tiles = [f'<div class="tile"><b>{len(recent)}</b><span>anomalies {escape(label)}</span></div>',
             f'<div class="tile"><b>{recent["household_id"].nunique()}</b><span>households affected</span></div>']
    tiles += [f'<div class="tile"><b>{int(counts.get(name, 0))}</b><span>{_swatch(name)}</span></div>'
              for name in CLASS_COLOURS]
    tiles.append(f'<div class="tile"><b>{len(everything)}</b><span>anomalies in all the data</span></div>')
    return f'<div class="tiles" style="flex-wrap:wrap">{"".join(tiles)}</div>'


def _job_runs(con) -> str:
    if not has_table(con, "ops", "job_runs"):
        return ""
    runs = con.execute("select run_id, job, started_at, finished_at, status, step, json_array_length(batches) as n, "
                       "rows_in, steps_scored, anomalies_found, anomalies_by_class, watermark_to, message "
                       "from ops.job_runs order by started_at desc limit 15").fetchall()
    if not runs:
        return "<h2>Job runs</h2><p class='small'>No job has run yet: `homewatch batch` records its runs here.</p>"
    rows = []
    for run_id, job, started, finished, status, step, n, rows_in, scored, found, by_class, watermark, message in runs:
        seconds = f"{(finished - started).total_seconds():.0f} s" if finished else "–"
        css = "ok" if status in ("succeeded", "nothing_new") else ("bad" if status != "running" else "")
        classes = ", ".join(f"{v} {k}" for k, v in sorted(json.loads(by_class).items())) if by_class else ""
        rows.append(f"<tr><td>{escape(run_id)}</td><td>{escape(job)}</td><td>{_ts(started)}</td><td class='num'>{seconds}</td>"
                    f"<td class='{css}'>{escape(status)}{'' if status in ('succeeded', 'nothing_new') else ' at ' + escape(str(step))}</td>"
                    f"<td class='num'>{n or 0}</td><td class='num'>{(rows_in or 0):,}</td><td class='num'>{(scored or 0):,}</td>"
                    f"<td class='num'>{found if found is not None else '–'}</td><td>{escape(classes)}</td>"
                    f"<td>{_ts(watermark)}</td><td class='obs small'>{escape(message or '')}</td></tr>")
    head = ("<tr><th>run</th><th>job</th><th>started (UTC)</th><th class='num'>took</th><th>status</th>"
            "<th class='num'>batches</th><th class='num'>readings in</th><th class='num'>steps scored</th>"
            "<th class='num'>anomalies</th><th>by class</th><th>watermark</th><th>message</th></tr>")
    return f"<h2>Job runs</h2><table>{head}{''.join(rows)}</table>"


def _per_day(anomalies: pd.DataFrame, end, days: int) -> str:
    first = (pd.Timestamp(end).normalize() - pd.Timedelta(days=days - 1))
    labels = [(first + pd.Timedelta(days=i)) for i in range(days)]
    frame = anomalies[anomalies["start_at"] >= first]
    day = frame["start_at"].dt.normalize()
    series = {name: [int(((frame["class_name"] == name) & (day == d)).sum()) for d in labels] for name in CLASS_COLOURS}
    chart = svg.stacked_bars([f"{d:%m-%d}" for d in labels], series, CLASS_COLOURS, height=170,
                             label="anomalies per day and class", empty=None)
    return f'<h2>Anomalies per day (by start, last {days} days)</h2><div class="chart">{chart}</div>'


def _table(recent: pd.DataFrame, max_rows: int, label: str) -> str:
    if recent.empty:
        return f"<h2>Anomalies</h2><p>No anomaly {escape(label)}.</p>"
    rows = []
    for r in recent.head(max_rows).itertuples():
        evidence = (f"{r.observed:.1f} vs {r.expected:.1f} expected" if pd.notna(r.observed) and pd.notna(r.expected)
                    else "")
        agree = "–" if not r.rules_fired else ("agrees" if r.rule_agrees else "other class")
        confidence = "–" if pd.isna(r.confidence) else f"{r.confidence:.2f}"
        rows.append(f"<tr><td>{escape(r.household_id)}</td><td>{_swatch(r.class_name)}</td><td>{_ts(r.start_at)}</td>"
                    f"<td>{_ts(r.end_at)}</td><td class='num'>{_duration(r.duration_minutes)}</td>"
                    f"<td class='num'>{confidence}</td><td>{escape(r.rules_fired or 'none (model only)')}</td>"
                    f"<td>{agree}</td><td>{escape(evidence)}</td></tr>")
    more = (f"<p class='small'>{len(recent) - max_rows} more not listed: query marts.fct_classified_anomalies.</p>"
            if len(recent) > max_rows else "")
    head = ("<tr><th>household</th><th>class</th><th>start (UTC)</th><th>end (UTC)</th><th class='num'>duration</th>"
            "<th class='num'>confidence</th><th>rules fired</th><th>rule</th><th>evidence (strongest rule)</th></tr>")
    return (f"<h2>Anomalies {escape(label)} ({len(recent)}, newest first)</h2>"
            f"<table>{head}{''.join(rows)}</table>{more}")


def _duration(minutes) -> str:
    minutes = int(minutes)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _households(con, recent: pd.DataFrame, start, end, limit: int, windows: dict | None = None) -> str:
    """Plots of the households with the most anomalies, over [start, end), or over each one's own
    window when `windows` gives them (a job run's households may hold readings of other years)."""
    if recent.empty:
        return ""
    top = recent["household_id"].value_counts().head(limit)
    windows = {h: (windows or {}).get(h, (start, end)) for h in top.index}
    readings = con.execute(
        "select r.household_id, r.sensor, r.reading_at, r.value from raw.readings r inner join "
        "(select unnest(?::varchar[]) as household_id, unnest(?::timestamp[]) as lo, unnest(?::timestamp[]) as hi) p "
        "on r.household_id = p.household_id and r.reading_at >= p.lo and r.reading_at < p.hi "
        "order by r.household_id, r.sensor, r.reading_at",
        [list(windows), [pd.Timestamp(w[0]).to_pydatetime() for w in windows.values()],
         [pd.Timestamp(w[1]).to_pydatetime() for w in windows.values()]]).df()
    figures = []
    for household, n in top.items():
        lo, hi = windows[household]
        chart = _plot(readings[readings["household_id"] == household], recent[recent["household_id"] == household],
                      household, lo, hi)
        figures.append(f"<figure>{chart}<figcaption>{escape(household)}: {n} anomal{'y' if n == 1 else 'ies'} "
                       "listed above, shaded by class (hover a band for its class and span)</figcaption></figure>")
    more = recent["household_id"].nunique() - len(top)
    note = f"<p class='small'>{more} more households with anomalies: `homewatch plot --household ID`.</p>" if more > 0 else ""
    legend = " ".join(_swatch(name) for name in CLASS_COLOURS)
    return f"<h2>Households with the most anomalies</h2><p class='small'>{legend}</p>{''.join(figures)}{note}"


def _plot(readings: pd.DataFrame, anomalies: pd.DataFrame, household: str, start, end) -> str:
    """The household's sensors as aligned SVG panels over the report period, anomalies shaded."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    span_s = max((end - start).total_seconds(), 1.0)
    present = set(readings["sensor"])
    sensors = [s for s in SENSOR_UNITS if s in present] + sorted(present - set(SENSOR_UNITS))
    rows = []
    for sensor in sensors:
        r = readings[readings["sensor"] == sensor]
        rows.append({"name": sensor, "unit": SENSOR_UNITS.get(sensor, ""),
                     "x": (r["reading_at"] - start).dt.total_seconds().to_numpy(), "y": r["value"].to_numpy(),
                     "binary": sensor in ("motion", "door", "fire_alarm")})
    spans = [((pd.Timestamp(a.start_at) - start).total_seconds(), (pd.Timestamp(a.end_at) - start).total_seconds(),
              CLASS_COLOURS.get(a.class_name, "#90a4ae"), f"{a.class_name}: {_ts(a.start_at)} to {_ts(a.end_at)}")
             for a in anomalies.itertuples()]
    days = pd.date_range(start.ceil("D"), end, freq="D")
    every = max(1, len(days) // 10)
    ticks = [((d - start).total_seconds(), f"{d:%m-%d}") for d in days[::every]]
    return svg.panels(rows, spans, span_s, ticks=ticks, label=f"sensors of {household}")


def _origin(con, version: str) -> str:
    """Where the model came from: trained in this warehouse, or imported from a package."""
    has_origin = con.execute("select count(*) from information_schema.columns where table_schema = 'ml' "
                             "and table_name = 'model_registry' and column_name = 'origin'").fetchall()[0][0]
    if not has_origin:
        return "trained in this warehouse"
    origin, source = con.execute("select origin, imported_from from ml.model_registry where model_version = ?",
                                 [version]).fetchall()[0]
    return f"imported from {source}" if origin == "imported" else "trained in this warehouse"


def _trained_on(meta: dict) -> str:
    """One line on the data a model learned from (its metadata's training summary)."""
    summary = meta.get("training_summary")
    if not summary:
        return ""
    h = summary.get("households", {})
    sources = ", ".join(f"{n} {s}" for s, n in sorted(summary.get("household_sources", {}).items()))
    sims = summary.get("simulations") or []
    sim = f"; simulator seed {sims[0]['seed']}, {sims[0]['days']} days" if sims else ""
    return (f" Trained on {h.get('train', '?')} households (validation {h.get('validation', '?')}, test "
            f"{h.get('test', '?')}; {sources}), {summary.get('days', '?')} days, sensors "
            f"{', '.join(sorted(summary.get('sensors', {})))}, a {meta.get('grid_step_seconds', 300) // 60}-minute "
            f"grid{sim}.")


def _model(production, origin: str = "") -> str:
    if production is None:
        return ("<h2>Model</h2><p>No production model: the anomalies above are the dbt rules' alone. "
                "`homewatch train` trains and evaluates one.</p>")
    version, val_f1, folder = production
    try:
        meta = json.loads((Path(folder) / "metadata.json").read_text())
    except (OSError, ValueError) as exc:
        return f"<h2>Model {escape(version)}</h2><p class='bad'>Its metadata cannot be read: {escape(str(exc))}</p>"
    metrics = meta.get("metrics", {})
    test = metrics.get("test") or {}
    parts = [f"<h2>Model {escape(version)} (production)</h2>",
             f"<p class='small'>Architecture {escape(meta.get('config', {}).get('arch', '?'))}, window "
             f"{meta.get('window')} steps; validation macro-F1 {val_f1:.3f}; {escape(origin)}."
             f"{escape(_trained_on(meta))} Evaluated on the test households, "
             "which it never trained or tuned on, at step level without point-adjust.</p>"]
    if not test:
        return "".join(parts) + "<p>No test evaluation stored: run `homewatch evaluate`.</p>"
    names = {"classifier": "classifier", "rules": "rules only (dbt)", "isolation_forest": "Isolation Forest"}
    head = ("<tr><th>method</th><th class='num'>macro-F1</th>"
            + "".join(f"<th class='num'>{escape(ANOMALY_CLASSES[c])}</th>" for c in range(1, 6))
            + "<th class='num'>event recall</th><th class='num'>false alarms / household-week</th></tr>")
    rows = []
    for method, s in test.items():
        per = s.get("per_class") or {}
        rows.append(f"<tr><td>{escape(names.get(method, method))}</td><td class='num'>{_f(s.get('macro_f1'))}</td>"
                    + "".join(f"<td class='num'>{_f((per.get(str(c)) or per.get(c) or {}).get('f1'))}</td>"
                              for c in range(1, 6))
                    + f"<td class='num'>{_f(s.get('event_recall'))}</td>"
                      f"<td class='num'>{_f(s.get('false_alarms_per_household_week'), 2)}</td></tr>")
    parts.append(f"<h3>Side by side (F1 per class)</h3><table>{head}{''.join(rows)}</table>")
    clf = test.get("classifier", {})
    per = clf.get("per_class") or {}
    rows = [f"<tr><td>{_swatch(ANOMALY_CLASSES[c])}</td>"
            + "".join(f"<td class='num'>{_f((per.get(str(c)) or {}).get(k))}</td>" for k in ("precision", "recall", "f1"))
            + f"<td class='num'>{(per.get(str(c)) or {}).get('support', 0):,}</td></tr>" for c in range(1, 6)]
    parts.append("<h3>Classifier per class (steps)</h3><table><tr><th>class</th><th class='num'>precision</th>"
                 "<th class='num'>recall</th><th class='num'>F1</th><th class='num'>support</th></tr>"
                 + "".join(rows) + "</table>")
    if clf.get("confusion"):
        parts.append(_confusion(clf["confusion"]))
    parts.append(_pr_curves(metrics["test_pr_curves"]) if metrics.get("test_pr_curves") else
                 "<h3>Precision-recall curves</h3><p class='small'>None stored: the test households had no anomaly "
                 "steps, or the model predates them (`homewatch train` stores them).</p>")
    return "".join(parts)


def _f(value, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and value != value) else f"{value:.{digits}f}"


def _confusion(cm: list[list[int]]) -> str:
    names = [ANOMALY_CLASSES[c] for c in range(len(cm))]
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th class='num'>{escape(n)}</th>" for n in names) + "</tr>"
    rows = []
    for i, row in enumerate(cm):
        total = max(sum(row), 1)
        cells = "".join(
            f"<td style='background:rgba(21,101,192,{0.85 * v / total:.2f});color:{'#fff' if v / total > 0.5 else '#263238'}'>"
            f"{v:,}</td>" for v in row)
        rows.append(f"<tr><th>{escape(names[i])}</th>{cells}</tr>")
    return f"<h3>Confusion matrix (test steps; shade = share of the true class)</h3><table class='cm'>{head}{''.join(rows)}</table>"


def _pr_curves(curves: dict) -> str:
    series = {ANOMALY_CLASSES[int(c)] + f" (AP {v['ap']:.3f})": (v["recall"], v["precision"])
              for c, v in sorted(curves.items(), key=lambda kv: int(kv[0]))}
    colours = {name: CLASS_COLOURS.get(name.split(" (")[0], "#90a4ae") for name in series}
    chart = svg.curves(series, colours, x_label="recall", y_label="precision",
                       label="precision-recall curves per class, test households")
    return f"<h3>Precision-recall curves (test households, one class against the rest)</h3><figure>{chart}</figure>"


def _queries() -> str:
    return """<h2>Query the anomalies yourself</h2><pre class="small">homewatch query "select household_id, class_name, start_at, end_at, mean_confidence, rules_fired
  from marts.fct_classified_anomalies order by start_at desc limit 20"
homewatch query "select * from ops.job_runs order by started_at desc limit 5"</pre>
<p class="small">The README lists the anomaly tables, their columns and more example queries.</p>"""
