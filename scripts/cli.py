"""`homewatch`: one entry point; each subcommand is a thin wrapper over library code."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
import threading
import time

from models_ml import ModelError
from scripts.output import _say, add_reports_dir, reports_dir, reports_of  # noqa: F401 (reports_dir: an old import path)
from simulator.config import ConfigError
from warehouse.connection import WarehouseError, has_table, resolve_db_path

DEMO_HOUSEHOLDS, DEMO_DAYS = 30, 90  # `homewatch run`: a demo sized to finish in minutes


# --- build ------------------------------------------------------------------------------------


def cmd_build(args) -> int:
    from warehouse.transform import build

    started = time.perf_counter()
    build(db=args.db, full_refresh=args.full_refresh, select=args.select, step=args.step,
          unit_tests=args.unit_tests, progress=lambda m: _say("build", m), target=args.target)
    _say("build", f"dbt build finished in {time.perf_counter() - started:.1f} s")
    return 0


def _step(text: str) -> int:
    """--step: '10s', '5min', '1h' -> seconds (a whole number of seconds that divides an hour)."""
    from warehouse.grid import GridStepError, parse_step

    try:
        return parse_step(text)
    except GridStepError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _step_minutes(text: str) -> int:
    """--step-minutes N (the older spelling of --step Nmin) -> seconds."""
    return _step(f"{text}min" if text.strip().lstrip("+-").isdigit() else text)


# --- status -----------------------------------------------------------------------------------


def warehouse_summary(db) -> str:
    from warehouse.connection import reader

    with reader(db) as con:
        lines = [f"warehouse: {resolve_db_path(db)}"]
        for table in ("readings", "households", "injected_events", "quarantine", "batches"):
            n = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            lines.append(f"  raw.{table:<16} {n:>12,} rows")
        span = con.execute("select min(reading_at), max(reading_at), count(distinct sensor) from raw.readings").fetchone()
        if span[0] is not None:
            lines.append(f"  readings from {span[0]} to {span[1]} (UTC), {span[2]} sensors")
        for row in con.execute(
            "select kind, event_type, count(*) from raw.injected_events group by all order by 1, 2"
        ).fetchall():
            lines.append(f"  ground truth {row[0]:<8} {row[1]:<16} {row[2]:>7,}")
        if has_table(con, "marts", "fct_anomaly_events"):
            for row in con.execute("select event_kind, rule_name, count(*) from marts.fct_anomaly_events "
                                   "group by all order by 1, 2").fetchall():
                lines.append(f"  detected     {row[0]:<14} {row[1]:<16} {row[2]:>7,}")
        model = con.execute("select model_version, val_macro_f1, test_macro_f1 from ml.model_registry "
                            "where status = 'production'").fetchone()
        if model:
            lines.append(f"  production model {model[0]}: validation macro-F1 {model[1]:.3f}, test {model[2]:.3f}")
            n = con.execute("select count(*) from ml.predictions where model_version = ?", [model[0]]).fetchone()[0]
            lines.append(f"  ml.predictions {n:>18,} rows from it")
        if has_table(con, "marts", "fct_classified_anomalies"):
            for row in con.execute("select class_name, count(*) from marts.fct_classified_anomalies "
                                   "group by all order by 1").fetchall():
                lines.append(f"  classified   {row[0]:<31} {row[1]:>7,}")
    return "\n".join(lines)


def cmd_status(args) -> int:
    print(warehouse_summary(args.db))
    return 0


# --- query ------------------------------------------------------------------------------------


def cmd_query(args) -> int:
    """Run the user's SQL on a sandboxed read-only connection (warehouse/connection.py): DuckDB
    itself refuses writes, other files, other databases, extensions and settings."""
    import duckdb

    from warehouse.connection import QueryError, query_error, reader

    if args.target == "spark":
        from warehouse.spark_query import query_spark

        return query_spark(args.db, args.sql, csv=args.csv, max_rows=args.max_rows)
    with reader(args.db, sandboxed=True) as con:
        try:
            relation = con.sql(args.sql)
            if relation is None:
                raise QueryError("the statement returned no result set; `homewatch query` is for SELECT, "
                                 "DESCRIBE, SHOW, SUMMARIZE and EXPLAIN")
            if args.csv:
                relation.df().to_csv(sys.stdout, index=False)
            else:
                relation.show(max_rows=args.max_rows, max_width=200)
        except duckdb.Error as exc:
            raise query_error(resolve_db_path(args.db), exc) from None
    return 0


# --- run --------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    """The main job: simulate and land a demo dataset, then the whole pipeline (scripts/jobs.py):
    build, check, train if there is no production model, score, marts, reports; summarise."""
    from simulator.config import SimConfig
    from simulator.plot import load_household, plot_household
    from warehouse.connection import reader
    from warehouse.land import land_simulation
    from warehouse.lock import run_lock

    from scripts import cli_ml
    from scripts.jobs import run_pipeline

    started = time.perf_counter()
    config = SimConfig(args.households, args.days, seed=args.seed)

    def train() -> None:
        from models_ml.data import DataError

        try:
            cli_ml.cmd_train(argparse.Namespace(db=args.db, reports_dir=args.reports_dir, arch=None,
                                                epochs=args.train_epochs, window=None,
                                                imbalance=None, seed=None, set=None))
        except DataError as exc:   # too few households to train on: the rest of the job still stands
            _say("train", f"skipped: {exc}")

    with run_lock(args.db, "run"):
        result = land_simulation(config, db=args.db, replace=args.replace, progress=lambda m: _say("simulate", m))
        _say("simulate", result.message)
        job = run_pipeline(args.db, job="run", train=train, report_dir=reports_of(args), progress=_say)
        cli_ml.ship_model(args.db)      # the trained model, as a package other warehouses can import
    household = config.household_id(0)
    with reader(args.db) as con:
        readings, events = load_household(con, household, None, 7)
    plot = plot_household(readings, events, household, reports_of(args) / "plots" / f"{household}.png")
    _say("plot", f"wrote {plot} (ground truth shaded)")
    print(warehouse_summary(args.db))
    print(textwrap.dedent(f"""
        done in {time.perf_counter() - started:.1f} s.
        reports: {job.report_path} (anomalies), {reports_of(args) / 'quality.html'} (data quality),
                 {reports_of(args) / 'model' / 'evaluation.html'} (model)
        try:
          .venv/bin/homewatch status
          .venv/bin/homewatch simulate --append --days 1 && .venv/bin/homewatch batch    # the scheduled job
          .venv/bin/homewatch query "select class_name, count(*) as anomalies, round(avg(mean_confidence), 2) as confidence from marts.fct_classified_anomalies group by 1 order by 2 desc"
          .venv/bin/homewatch query "select household_id, class_name, start_at, end_at, rules_fired from marts.fct_classified_anomalies order by start_at desc limit 10"
          .venv/bin/homewatch query "select * from ops.job_runs order by started_at desc limit 3"
        more example queries: README.md, "The anomaly tables"
        """).rstrip())
    return 0


# --- batch ------------------------------------------------------------------------------------


def cmd_batch(args) -> int:
    """The scheduled job: take in what landed since the watermark, build, check, score, marts, report."""
    from scripts.jobs import run_pipeline

    result = run_pipeline(args.db, job="batch", force=args.force, report_dir=reports_of(args), progress=_say)
    print(result.summary())
    print(f"report: {result.report_path}")
    return 0


# --- parser -----------------------------------------------------------------------------------


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="warehouse file (default: $HOMEWATCH_DB, else warehouse/data/homewatch.duckdb)")


def _add_target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=["dev", "spark"], default="dev",
                   help="dev: the DuckDB warehouse (default); spark: its Spark side, <warehouse>.spark/ "
                        "(needs `make spark`; docs/scale-out.md)")


def _sub(subs, name: str, func, help_text: str, example: str) -> argparse.ArgumentParser:
    p = subs.add_parser(name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    _add_db(p)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="homewatch", description="Find and name anomalies in smart-home sensor data.")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(subs, "run", cmd_run, "Run the main job end to end on a demo dataset.", "homewatch run --households 10 --days 30")
    p.add_argument("--households", type=int, default=DEMO_HOUSEHOLDS, help=f"demo households (default {DEMO_HOUSEHOLDS})")
    p.add_argument("--days", type=int, default=DEMO_DAYS, help=f"demo days (default {DEMO_DAYS})")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--replace", action="store_true", help="discard a different simulation already in the warehouse")
    p.add_argument("--train-epochs", type=int, help="epochs when a model is trained (default: the training config's)")
    add_reports_dir(p)

    p = _sub(subs, "batch", cmd_batch, "The scheduled job: take in the batches landed since the last run, check "
             "their raw data (exit 1 on a critical failure, before anything is built), build the dbt layers on the "
             "warehouse's grid step, check them (exit 1 on a critical failure, before scoring), score, refresh the "
             "anomaly marts and reports, and record the run in ops.job_runs. One run at a time: a second exits with "
             "code 75.",
             "homewatch batch            # e.g. after: homewatch simulate --append --days 1")
    p.add_argument("--force", action="store_true", help="build and score even batches that failed a critical "
                   "quality check")
    add_reports_dir(p)

    from scripts.cli_reports import add_commands as add_report_commands

    add_report_commands(subs, _sub)        # report, check, plot
    from scripts.cli_data import add_commands as add_data_commands

    add_data_commands(subs, _sub)          # simulate, ingest
    p = _sub(subs, "build", cmd_build, "Build the dbt layers (features, baselines, rule flags, events) and run their tests.",
             "homewatch build            # incremental: only what arrived since the last build")
    p.add_argument("--full-refresh", action="store_true", help="rebuild every table from all the data")
    p.add_argument("--select", help="dbt node selection, e.g. fct_anomaly_events+")
    step = p.add_mutually_exclusive_group()
    step.add_argument("--step", type=_step, metavar="STEP",
                      help="grid step, e.g. 10s, 5min, 1h (a whole number of seconds that divides an hour). "
                           "Default: the step this warehouse was first built on (ops.grid), else 5min. Another "
                           "step than the recorded one needs --full-refresh (every table is rebuilt on it)")
    step.add_argument("--step-minutes", type=_step_minutes, dest="step", metavar="N",
                      help="the grid step in minutes (same as --step Nmin)")
    p.add_argument("--unit-tests", action="store_true",
                   help="also run the dbt unit tests (logic on hand-written rows; the test suite runs them)")
    _add_target(p)

    p = _sub(subs, "query", cmd_query, "Run a read-only SQL query on the warehouse and print the result. "
             "Read-only in fact: DuckDB refuses any change to the warehouse, COPY/EXPORT to files, reading "
             "files (read_csv, glob...), ATTACH, INSTALL/LOAD and SET/PRAGMA. An SQL error prints one line "
             "and exits with code 2.",
             "homewatch query \"select event_type, count(*) from raw.injected_events group by 1\"")
    p.add_argument("sql", help="a SELECT (or DESCRIBE, SHOW, SUMMARIZE, EXPLAIN) statement")
    p.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    p.add_argument("--max-rows", type=int, default=40, help="rows to show in a table (default 40)")
    _add_target(p)

    _sub(subs, "status", cmd_status, "Summarise what the warehouse holds.", "homewatch status --db /tmp/w.duckdb")

    from scripts.cli_ml import add_commands

    add_commands(subs, _sub)
    from scripts.cli_alerts import add_commands as add_alert_commands

    add_alert_commands(subs, _sub)
    return parser


def _refuse_a_broken_warehouse(args) -> None:
    """Before a command touches anything (a run lock, a dbt folder), refuse a warehouse path that
    is a folder or a file that is not a DuckDB database (WarehouseUnreadableError, exit 3)."""
    from warehouse.connection import check_warehouse_file

    path = resolve_db_path(getattr(args, "db", None))
    if path.exists():
        check_warehouse_file(path)


def _unexpected_error(args, exc: Exception) -> WarehouseError:
    """A DuckDB or OS error no command turned into a message: a damaged or unwritable warehouse
    says so (exit 3 or 4), anything else is one line with a way to see the traceback."""
    import errno

    import duckdb

    from warehouse.connection import warehouse_error_for
    from warehouse.errors import ENV_DEBUG, WarehouseReadOnlyError

    path = resolve_db_path(getattr(args, "db", None))
    if isinstance(exc, OSError) and exc.filename is not None:
        near_warehouse = str(exc.filename).startswith(str(path))   # <db>.lock, <db>.wal, <db>.dbt/
        if near_warehouse and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return WarehouseReadOnlyError(f"cannot write {exc.filename}: {exc.strerror}. `homewatch {args.command}` "
                                          f"writes the warehouse and the files next to it; give this user write "
                                          f"access to {path.parent}, or copy the warehouse somewhere writable and "
                                          "pass --db")
        detail = f"{exc.strerror or exc}: {exc.filename}"
    else:
        known = warehouse_error_for(path, exc) if isinstance(exc, duckdb.Error) else None
        if known is not None:
            return known
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WarehouseError(f"{detail} (rerun with {ENV_DEBUG}=1 for the traceback)")


def _terminate(signum, frame):
    """SIGTERM (systemd stopping the unit, `kill`) unwinds like Ctrl-C: open transactions roll
    back and the job records why it stopped."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    import duckdb

    from warehouse.errors import ENV_DEBUG, EXIT_ERROR, EXIT_INTERRUPTED

    args = build_parser().parse_args(argv)
    previous = None
    # the commands that write the warehouse or a model folder: SIGTERM rolls them back too
    if args.command in ("batch", "run", "train", "score", "evaluate") \
            and threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        _refuse_a_broken_warehouse(args)
        return args.func(args)
    except (WarehouseError, ConfigError, ModelError) as exc:
        print(f"homewatch {args.command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_ERROR)  # the table: warehouse/errors.py
    except KeyboardInterrupt:
        print(f"homewatch {args.command}: interrupted; the warehouse keeps its last committed state", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (duckdb.Error, OSError) as exc:
        if os.environ.get(ENV_DEBUG):
            raise
        error = _unexpected_error(args, exc)
        print(f"homewatch {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
