"""The anomaly report's section on alerts and feedback (scripts/anomaly_report.py): how many
alerts were sent or held back and why, and precision from people's labels over time, per class
and per household."""
from __future__ import annotations

from html import escape

from warehouse.alerts.feedback import precision_by
from warehouse.dbhelpers import has_table


def _table(frame, first: str) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in [first, "true", "false", "precision"])
    rows = "".join(f"<tr><td>{escape(str(r[0]))}</td><td>{r[1]}</td><td>{r[2]}</td><td>{r[3]:.3f}</td></tr>"
                   for r in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def feedback_section(con) -> str:
    """HTML: the alerts by what happened to them, and precision from feedback (by week of onset,
    class, household). Empty string for a warehouse without alerts."""
    if not has_table(con, "ops", "alerts") or not con.execute("select count(*) from ops.alerts").fetchone()[0]:
        return ""
    counts = con.execute("select coalesce(suppressed_by, 'sent') as fate, count(*) from ops.alerts group by 1 "
                         "order by 2 desc").fetchall()
    statuses = con.execute("select status, count(*) from ops.alerts group by 1 order by 2 desc").fetchall()
    parts = ["<h2>Alerts and feedback</h2>",
             "<p>Alerts: " + ", ".join(f"{n} {escape(f)}" for f, n in counts) + "; by status: "
             + ", ".join(f"{n} {escape(s)}" for s, n in statuses)
             + ". <span class='small'>Held back: stale (older than max_age_hours), snooze, feedback, quiet_hours, "
               "cooldown (docs/alerts.md).</span></p>"]
    weekly = precision_by(con, "week")
    if weekly.empty:
        parts.append("<p class='small'>No label yet: precision from feedback appears here once people label "
                     "alerts (`homewatch label ID true|false|unsure`).</p>")
        return "".join(parts)
    parts.append("<p class='small'>Precision from feedback: labelled alerts that were true (unsure left out; "
                 "the newest label of each alert counts).</p>")
    parts += ["<h3>By week of onset</h3>", _table(weekly, "week"),
              "<h3>By class</h3>", _table(precision_by(con, "class"), "class"),
              "<h3>By household</h3>", _table(precision_by(con, "household"), "household")]
    return "".join(parts)
