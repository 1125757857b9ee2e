"""The alert loop's subcommands: `homewatch alerts ...` and `homewatch label ...`.

Registered by scripts.cli; thin wrappers over warehouse/alerts (docs/alerts.md).
"""
from __future__ import annotations

import argparse
import datetime as dt

from scripts.output import _say, reports_dir

ACTIONS = ("list", "ack", "resolve", "dismiss", "reopen", "snooze", "explain", "sync", "deliver")


def _datetime(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date/time like 2025-01-05 or 2025-01-05T06:00") from None


def default_alert_file():
    return reports_dir() / "alerts.jsonl"


def _need(args, what: str, value):
    from warehouse.alerts import AlertError

    if value is None:
        raise AlertError(f"`homewatch alerts {args.action}` needs {what}")
    return value


def _alert_id(args, text) -> int:
    from warehouse.alerts import AlertError

    text = _need(args, "an alert ID (`homewatch alerts` lists them)", text)
    if not str(text).isdigit():
        raise AlertError(f"{text!r} is not an alert ID (a number; `homewatch alerts` lists them)")
    return int(text)


def cmd_alerts(args) -> int:
    from warehouse.alerts import load_config, sync_and_deliver
    from warehouse.alerts.feedback import explain
    from warehouse.alerts.outbox import deliver
    from warehouse.alerts.store import list_alerts, set_status, snooze
    from warehouse.connection import has_table, reader, require_warehouse, writer

    require_warehouse(args.db)
    config = load_config(args.config)
    if args.action in ("list", "explain"):
        with reader(args.db) as con:
            if not has_table(con, "ops", "alerts"):   # a warehouse no alert step has written yet
                print("no alert yet: `homewatch batch` (or `homewatch alerts sync`) makes them from the anomaly marts")
                return 0
    if args.action == "list":
        with reader(args.db) as con:
            frame = list_alerts(con, status=args.status, household=args.household, alert_class=args.alert_class,
                                since=args.since, limit=args.max_rows)
        if frame.empty:
            print("no alert matches" if any((args.status, args.household, args.alert_class, args.since))
                  else "no alert yet: `homewatch batch` (or `homewatch alerts sync`) makes them from the anomaly marts")
        else:
            print(frame.to_string(index=False, max_colwidth=70))
        return 0
    if args.action in ("ack", "resolve", "dismiss", "reopen"):
        alert_id = _alert_id(args, args.target)
        with writer(args.db) as con:
            row = set_status(con, config, alert_id, args.action, args.note)
        print(f"alert {alert_id} is {row['status']} (version {row['version']})"
              + ("; the change is queued for the sinks (`homewatch alerts deliver`, or the next batch)"
                 if row["suppressed_by"] is None else ""))
        return 0
    if args.action == "snooze":
        household = _need(args, "a HOUSEHOLD", args.target)
        until = _need(args, "--until TIME", args.until)
        with writer(args.db) as con:
            snooze_id = snooze(con, household, until, sensor=args.sensor, from_at=args.from_at, note=args.note)
        what = f"{household}'s {args.sensor} sensor" if args.sensor else household
        print(f"snooze {snooze_id}: new alerts of {what} starting before {until} are stored and not sent")
        return 0
    if args.action == "explain":
        alert_id = _alert_id(args, args.target)
        with reader(args.db) as con:
            print(explain(con, alert_id))
        return 0
    from warehouse.lock import run_lock

    with run_lock(args.db, f"alerts {args.action}"):   # not while a batch job syncs and delivers
        if args.action == "sync":
            result = sync_and_deliver(args.db, config, default_file=default_alert_file())
        else:
            with writer(args.db) as con:
                result = deliver(con, config, default_file=default_alert_file())
    _say("alerts", result.summary())
    return 0


def cmd_label(args) -> int:
    from warehouse.alerts import AlertError, load_config
    from warehouse.alerts.feedback import FeedbackError, LABELS, record_csv, record_label
    from warehouse.connection import require_warehouse, writer

    require_warehouse(args.db)
    config = load_config(args.config)
    try:
        if args.csv:
            if args.alert_id or args.label:
                raise AlertError("give either ALERT_ID LABEL or --csv FILE, not both")
            with writer(args.db) as con:
                n = record_csv(con, config, args.csv)
            print(f"{n} label(s) recorded from {args.csv}")
            return 0
        if not (args.alert_id and args.label):
            raise AlertError(f"give ALERT_ID and a label ({'|'.join(LABELS)}), or --csv FILE")
        if not args.alert_id.isdigit():
            raise AlertError(f"{args.alert_id!r} is not an alert ID (a number; `homewatch alerts` lists them)")
        with writer(args.db) as con:
            fid = record_label(con, config, int(args.alert_id), args.label, corrected_class=args.alert_class,
                               note=args.note)
        print(f"label #{fid} recorded: alert {args.alert_id} is {args.label}; "
              f"`homewatch alerts explain {args.alert_id}` shows what it changed")
        return 0
    except FeedbackError as exc:
        raise AlertError(str(exc)) from None


def cmd_finetune(args) -> int:
    from models_ml.finetune import FinetuneConfig, describe, finetune
    from warehouse.connection import require_warehouse

    require_warehouse(args.db)
    outcome = finetune(args.db, FinetuneConfig(epochs=args.epochs, lr=args.lr), progress=lambda m: _say("finetune", m))
    print(describe(outcome))
    return 0


def add_commands(subs, sub) -> None:
    """Register the subcommands on the main parser (`sub` is scripts.cli._sub)."""
    from pathlib import Path

    p = sub(subs, "alerts", cmd_alerts,
            "Alerts: one per incident, whichever detectors saw it (ops.alerts). List them (filters), change their "
            "status (ack, resolve, dismiss, reopen ID --note TEXT), snooze a household or sensor until a time, "
            "explain one (what it is, why it was or was not sent, what its labels changed), or sync and deliver "
            "now (the batch job does both after scoring). Sinks and settings: homewatch.toml (docs/alerts.md).",
            "homewatch alerts --status open --since 2025-01-10\n"
            "  homewatch alerts ack 12 --note 'on it'   |   homewatch alerts explain 12\n"
            "  homewatch alerts snooze H0003 --until 2025-01-20T08:00 --sensor door")
    p.add_argument("action", nargs="?", default="list", choices=ACTIONS, help="what to do (default list)")
    p.add_argument("target", nargs="?", help="the alert ID (ack, resolve, dismiss, reopen, explain) or the "
                   "HOUSEHOLD (snooze)")
    p.add_argument("--status", choices=["open", "acknowledged", "resolved", "dismissed"], help="list: this status only")
    p.add_argument("--household", help="list: this household only")
    p.add_argument("--class", dest="alert_class", help="list: this class only, e.g. fire or sensor_health")
    p.add_argument("--since", type=_datetime, help="list: alerts still going on at or after this time (UTC)")
    p.add_argument("--max-rows", type=int, default=50, help="list: rows to show (default 50)")
    p.add_argument("--note", help="a note kept with the status change or snooze")
    p.add_argument("--until", type=_datetime, help="snooze: alerts starting before this time (UTC) are not sent")
    p.add_argument("--from", dest="from_at", type=_datetime, help="snooze: ... and at or after this time (default: any)")
    p.add_argument("--sensor", help="snooze: only alerts involving this sensor")
    p.add_argument("--config", help="alert settings and sinks (default: $HOMEWATCH_CONFIG, else ./homewatch.toml)")

    p = sub(subs, "label", cmd_label,
            "Say whether an alert was real: true, false (a false alarm: also dismisses it) or unsure, optionally "
            "with the class it really was; or many at once from a CSV (alert_id,label[,class][,note]). False alarms "
            "make later alerts of the household and class stricter (bounded, reversible; `homewatch alerts explain "
            "ID` shows what changed).",
            "homewatch label 12 false --note 'late return'   |   homewatch label 7 true --class 1\n"
            "  homewatch label --csv labels.csv")
    p.add_argument("alert_id", nargs="?", help="the alert ID")
    p.add_argument("label", nargs="?", choices=["true", "false", "unsure"], help="true, false or unsure")
    p.add_argument("--class", dest="alert_class", help="the class it really was (0-5 or a name)")
    p.add_argument("--note", help="a note kept with the label")
    p.add_argument("--csv", type=Path, help="record every label of this CSV (all or none)")
    p.add_argument("--config", help="alert settings and sinks (default: $HOMEWATCH_CONFIG, else ./homewatch.toml)")

    p = sub(subs, "finetune", cmd_finetune,
            "Fine-tune the production classifier on the labelled alerts (true: their class, false: normal) with "
            "the simulated training windows, as a new model version (weights, ONNX, JSON metadata). It becomes "
            "production only if it does not lose macro-F1 on the simulator's test households and beats the "
            "production model on the held-out labels (alerts whose ID ends in 0, 1 or 2); else it stays a candidate.",
            "homewatch finetune   |   homewatch finetune --epochs 5 --lr 1e-4")
    p.add_argument("--epochs", type=int, default=3, help="passes over the windows (default 3)")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate (default 3e-4, a tenth of training's)")
