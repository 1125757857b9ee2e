"""`homewatch report`, `homewatch check` and `homewatch plot`: what people read."""
from __future__ import annotations

from pathlib import Path

from scripts.cli_data import _datetime
from scripts.output import _say, add_reports_dir, reports_dir, reports_of


# --- check ------------------------------------------------------------------------------------


def run_check(db, batch: str | None, report: Path | None, reports: Path | None = None):
    """Validate a batch, print the verdict and every failure, write the HTML report."""
    from expectations.check import check_batch

    result = check_batch(db, batch, report_path=report or (reports or reports_dir(db)) / "quality.html",
                         progress=lambda m: _say("check", m))
    print(result.summary())
    _say("check", f"report: {result.report_path}")
    return result


def cmd_check(args) -> int:
    return 0 if run_check(args.db, args.batch, args.report, reports_of(args)).passed else 1


# --- plot -------------------------------------------------------------------------------------


def cmd_plot(args) -> int:
    from simulator.plot import load_household, plot_household
    from warehouse.connection import reader

    with reader(args.db) as con:
        readings, events = load_household(con, args.household, args.start, args.days)
    out = args.out or reports_of(args) / "plots" / f"{args.household}.png"
    path = plot_household(readings, events, args.household, out)
    print(f"wrote {path}")
    return 0


# --- report -----------------------------------------------------------------------------------


def cmd_report(args) -> int:
    from scripts.anomaly_report import ReportOptions, write_anomaly_report

    out = args.out or reports_of(args) / "anomalies.html"
    path = write_anomaly_report(args.db, out, ReportOptions(days=args.days, households=args.households),
                                progress=lambda m: _say("report", m))
    print(f"wrote {path}")
    return 0


def add_commands(subs, sub) -> None:
    """Register the subcommands on the main parser (`sub` is scripts.cli._sub)."""
    p = sub(subs, "report", cmd_report, "Rebuild the anomaly report (HTML, self-contained): job runs, anomalies "
             "by class and day, the households with the most anomalies plotted, the model's evaluation.",
             "homewatch report --days 14 --out /tmp/anomalies.html")
    p.add_argument("--days", type=float, default=7.0, help="report period up to the newest reading (default 7 days)")
    p.add_argument("--households", type=int, default=12, help="households to plot, most anomalies first (default 12)")
    p.add_argument("--out", type=Path, help="HTML path (default: anomalies.html in the reports folder)")
    add_reports_dir(p)

    p = sub(subs, "check", cmd_check, "Check a batch's data quality and drift, store the results in dq.*, write "
             "the HTML report; exit 1 if a critical expectation failed.",
             "homewatch check --batch sim-42-d0180-d0181 --report /tmp/quality.html")
    p.add_argument("--batch", help="batch id from raw.batches (default: the newest batch)")
    p.add_argument("--report", type=Path, help="HTML report (default: quality.html in the reports folder)")
    add_reports_dir(p)

    p = sub(subs, "plot", cmd_plot, "Plot one household's sensors with ground-truth anomalies shaded (PNG).",
             "homewatch plot --household H0001 --start 2025-01-05 --days 7 --out h1.png")
    p.add_argument("--household", required=True, help="household id, e.g. H0001")
    p.add_argument("--start", type=_datetime, help="window start, UTC (default: the last --days of data)")
    p.add_argument("--days", type=float, default=7.0, help="window length in days (default 7)")
    p.add_argument("--out", type=Path, help="PNG path (default: plots/<household>.png in the reports folder)")
    add_reports_dir(p)
