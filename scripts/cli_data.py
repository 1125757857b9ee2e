"""`homewatch simulate` and `homewatch ingest`: how data gets into the warehouse."""
from __future__ import annotations

import argparse
import datetime as dt
import time

from scripts.output import _say
from simulator.config import ConfigError
from warehouse.connection import resolve_db_path


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-01-01") from None


def _datetime(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date/time like 2025-01-05 or 2025-01-05T06:00") from None


def _duration(text: str) -> int:
    """'5min', '1h' -> seconds (any duration; the command checks what it can use)."""
    from warehouse.grid import GridStepError, parse_duration

    try:
        return parse_duration(text)
    except GridStepError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("grid step", "step")) from None


def _mapping(text: str) -> tuple[str, str]:
    source, sep, target = text.partition("=")
    if not sep or not source or not target:
        raise argparse.ArgumentTypeError(f"{text!r} is not SOURCE=SENSOR, e.g. temp_c=temperature")
    return source, target


# --- simulate ---------------------------------------------------------------------------------


def cmd_simulate(args) -> int:
    from simulator.config import SimConfig
    from warehouse.land import land_simulation

    started = time.perf_counter()
    if args.append:
        result = land_simulation(db=args.db, append_days=args.days, progress=lambda m: _say("simulate", m))
    else:
        config = SimConfig(args.households, args.days, args.start, _simulated_minutes(args.step, args.step_minutes), args.seed)
        result = land_simulation(config, db=args.db, replace=args.replace, progress=lambda m: _say("simulate", m))
    _say("simulate", f"{result.message} in {time.perf_counter() - started:.1f} s")
    if args.replace and not result.skipped:
        _say("simulate", "the simulation was replaced: run `homewatch build --full-refresh` so no table keeps the old homes")
    print(f"warehouse: {resolve_db_path(args.db)}")
    return 0


def _simulated_minutes(step: int | None, minutes: int | None) -> int:
    """The simulator's step in whole minutes (default 5); SimConfig checks it divides a day."""
    if minutes is not None or step is None:
        return 5 if minutes is None else minutes
    if step % 60:
        raise ConfigError(f"the simulator steps in whole minutes, got {step} s; for readings every few seconds, "
                          "ingest them from a file (`homewatch ingest`) and build with --step")
    return step // 60


# --- ingest -----------------------------------------------------------------------------------


def cmd_ingest(args) -> int:
    from warehouse.ingest import IngestFailed, Limits, ingest_files

    limits = Limits.from_env(args.earliest, args.future_tolerance_hours, args.max_quarantined)
    try:
        results = ingest_files(
            args.files,
            db=args.db,
            household=args.household,
            column_map=dict(args.map or []),
            timestamp_column=args.timestamp_column,
            timestamp_format=args.timestamp_format,
            delimiter=args.delimiter,
            limits=limits,
            progress=lambda m: _say("ingest", m),
            entities=args.entities,
        )
    except IngestFailed as exc:
        loaded = [r for r in exc.results if not r.failure and not r.skipped]
        for r in loaded:
            print(f"{r.path}: not loaded, as another file of this command failed (one command loads all its "
                  "files or none)")
        raise
    for r in results:
        print(_ingest_line(r))
    return 0


def _ingest_line(r) -> str:
    """What ingest did with one file, for people."""
    if r.skipped:
        return f"{r.path}: already ingested (same content, same options); nothing added"
    if r.batch_id is None and r.layout == "recorder" and not r.already_present + r.repeated:
        return f"{r.path}: nothing new since the last ingest of this database; nothing added"
    if r.batch_id is None:
        return (f"{r.path}: nothing new: its {r.already_present + r.repeated:,} readings are all in the warehouse "
                "already; nothing added")
    line = (f"{r.path}: {r.rows_loaded:,} readings loaded ({r.layout} layout; households: "
            f"{', '.join(r.households)}; sensors: {', '.join(r.sensors)}) as batch {r.batch_id}")
    if r.already_present:
        line += f"; {r.already_present:,} readings already in the warehouse skipped"
    if r.repeated:
        line += f"; {r.repeated:,} repeated rows skipped"
    if r.replacing:
        line += f"; {r.replacing:,} readings differ from a value landed before (the build uses the newer one)"
    if r.conflicting:
        line += (f"; {r.conflicting:,} conflicting duplicates quarantined (same sensor and time as an earlier row, "
                 "another value; the first was kept)")
    if r.missing:
        line += f"; {r.missing:,} states unavailable or unknown (missing readings, not quarantined)"
    if r.rows_quarantined:
        line += (f"; {r.rows_quarantined:,} rows quarantined in all, see: select * from raw.quarantine "
                 f"where batch_id = '{r.batch_id}'")
    return line


def add_commands(subs, sub) -> None:
    """Register the subcommands on the main parser (`sub` is scripts.cli._sub)."""
    p = sub(subs, "simulate", cmd_simulate, "Simulate homes with labelled anomalies and land them in raw.*.",
             "homewatch simulate --households 100 --days 180 --seed 42   # then: homewatch simulate --append --days 1")
    p.add_argument("--households", type=int, default=100, help="number of households (default 100)")
    p.add_argument("--days", type=int, default=180, help="days to simulate, or to add with --append (default 180)")
    p.add_argument("--start", type=_date, default=dt.date(2025, 1, 1), help="first day, UTC (default 2025-01-01)")
    step = p.add_mutually_exclusive_group()
    step.add_argument("--step", type=_duration, metavar="STEP", help="time between readings, e.g. 5min or 1min "
                      "(whole minutes that divide a day: the simulated routines are minute-based; default 5min)")
    step.add_argument("--step-minutes", type=int, metavar="N", help="minutes between readings (same as --step Nmin)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--append", action="store_true", help="continue the warehouse's simulation by --days more days")
    mode.add_argument("--replace", action="store_true", help="discard a different simulation already in the warehouse")

    p = sub(subs, "ingest", cmd_ingest, "Load real readings from CSV or Parquet files (long or wide layout), "
             "Home Assistant history CSVs or a Home Assistant recorder database.",
             "homewatch ingest exports/*.csv --household flat_3 --map temp_c=temperature\n"
             "  homewatch ingest /config/home-assistant_v2.db --entities home.toml")
    p.add_argument("files", nargs="+", help="CSV or Parquet files, or a Home Assistant recorder database")
    p.add_argument("--entities", metavar="TOML",
                   help="Home Assistant: a file mapping entity ids or globs to sensors and households "
                        "(default: chosen from each entity's domain, device class and name, and printed)")
    p.add_argument("--household", help="household name when a file has no household column (default: file name)")
    p.add_argument("--map", type=_mapping, action="append", metavar="SOURCE=SENSOR",
                   help="rename a column (wide) or sensor (long); repeatable")
    p.add_argument("--timestamp-column", help="name of the timestamp column (default: detected)")
    p.add_argument("--timestamp-format",
                   help="strptime format, e.g. '%%d/%%m/%%Y %%H:%%M', or epoch_s / epoch_ms for numbers of seconds / "
                        "milliseconds since 1970 (default: detected: ISO, with or without an offset, or epoch numbers)")
    p.add_argument("--delimiter", help="CSV delimiter (default: detected; comma, semicolon or tab)")
    p.add_argument("--earliest", type=_datetime, metavar="DATE",
                   help="readings stamped before this are quarantined (default: $HOMEWATCH_INGEST_EARLIEST, "
                        "else 2000-01-01)")
    p.add_argument("--future-tolerance-hours", type=float, metavar="HOURS",
                   help="readings stamped more than this after the ingest are quarantined (default: "
                        "$HOMEWATCH_INGEST_FUTURE_HOURS, else 24)")
    p.add_argument("--max-quarantined", type=float, metavar="SHARE",
                   help="a file quarantining more than this share of what it holds fails, and nothing of the "
                        "command is loaded (default: $HOMEWATCH_INGEST_MAX_QUARANTINED, else 0.5)")
