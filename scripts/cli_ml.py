"""The classifier's subcommands: train, evaluate, score, model (list / promote / rollback /
export / import).

Registered by scripts.cli; kept here so the main CLI module stays small. torch is imported
only by `train` (scoring and evaluation run on ONNX Runtime).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.output import _say, add_reports_dir, reports_of


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. hidden=64")
    return key, value


def _print_comparison(evaluation) -> None:
    from models_ml.report import COMPARISON_HEADER, comparison_rows

    rows = [COMPARISON_HEADER, *comparison_rows(evaluation)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(COMPARISON_HEADER))]
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def model_reports_dir(args) -> Path:
    return reports_of(args) / "model"


def cmd_train(args) -> int:
    from models_ml.config import TrainConfig
    from models_ml.pipeline import train_and_register

    overrides = dict(args.set or [])
    for name in ("arch", "epochs", "window", "imbalance", "seed"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    cfg = TrainConfig().with_overrides(**overrides)
    _say("train", f"training a {cfg.arch} on windows of {cfg.window} steps, up to {cfg.epochs} epochs")
    outcome = train_and_register(args.db, cfg, progress=lambda m: _say("train", m),
                                 report_dir=model_reports_dir(args))
    m = outcome.metadata["metrics"]
    _say("train", f"{outcome.version}: validation macro-F1 {m['validation_macro_f1']:.4f}, test macro-F1 "
                  f"{m['test_macro_f1']:.4f}; "
                  + ("promoted to production" if outcome.promoted else "not promoted (production is better on validation)"))
    _print_comparison(outcome.evaluation)
    _say("train", f"artifacts in {outcome.folder}; report {model_reports_dir(args) / 'evaluation.html'}")
    if not getattr(args, "no_labels", False):   # `homewatch run` calls this too
        _learn_from_labels(args.db)
    return 0


def _learn_from_labels(db) -> None:
    """People's labels join training: with labelled alerts in the warehouse, the production model
    is fine-tuned on them along with simulated windows, and the result promoted only if it keeps
    the simulator's quality and beats production on held-out labels (models_ml/finetune.py)."""
    from models_ml.finetune import FinetuneConfig, describe, finetune
    from warehouse.connection import has_table, reader

    with reader(db) as con:
        labels = con.execute("select count(distinct alert_id) from ops.alert_feedback where label <> 'unsure'"
                             ).fetchone()[0] if has_table(con, "ops", "alert_feedback") else 0
    if not labels:
        _say("train", "no labelled alert in this warehouse: nothing to fine-tune on (`homewatch label`)")
        return
    _say("train", f"{labels} labelled alert(s): fine-tuning the production model on them")
    print(describe(finetune(db, FinetuneConfig(), progress=lambda m: _say("train", m))))


def cmd_evaluate(args) -> int:
    from models_ml.pipeline import evaluate_version

    version, evaluation = evaluate_version(args.db, args.version, args.split, progress=lambda m: _say("evaluate", m),
                                           report_dir=model_reports_dir(args))
    _say("evaluate", f"{version} on {len(evaluation.households)} {args.split} households "
                     f"(metrics in ml.evaluation_metrics, report {model_reports_dir(args) / 'evaluation.html'})")
    _print_comparison(evaluation)
    return 0


def cmd_score(args) -> int:
    from models_ml.score import score
    from warehouse.connection import writer

    if getattr(args, "target", "dev") == "spark":   # docs/scale-out.md
        from models_ml.spark_score import score_spark

        # the marts that read the predictions are refreshed by the next `homewatch build --target spark`
        # (a dbt process needs the Spark catalog this process now holds)
        score_spark(args.db, args.version, progress=lambda m: _say("score", m), force=args.force)
        return 0

    with writer(args.db) as con:
        result = score(con, args.version, args.precision, progress=lambda m: _say("score", m), force=args.force)
    if result.steps_scored == 0:
        _say("score", f"nothing new to score for {result.model_version}")
    else:
        _say("score", f"{result.steps_scored:,} steps of {result.households} households scored by "
                      f"{result.model_version} ({result.model_file}) in {result.seconds:.1f} s; "
                      f"{result.anomalies:,} anomalous steps, {result.ood_steps:,} steps out of the model's "
                      f"training distribution (no alerts from them); run {result.run_id} (ml.predictions)")
    _refresh_marts(args.db, "score")
    return 0


def _refresh_marts(db, step: str) -> None:
    """Rebuild the dbt models that read ml.predictions (a few seconds), so they always show
    the production model's predictions."""
    from scripts.jobs import PREDICTION_MARTS
    from warehouse.transform import build

    build(db=db, select=PREDICTION_MARTS, progress=lambda m: _say(step, m))
    _say(step, "marts.fct_classified_anomalies is up to date")


def cmd_model(args) -> int:
    from models_ml import registry
    from warehouse.connection import reader, transaction, writer

    if args.action == "list":
        with reader(args.db) as con:
            rows = registry.versions(con)
        if not rows:
            print("no model yet: `homewatch train` trains one, `homewatch model import PACKAGE` imports one")
        for version, status, val_f1, test_f1, created, promoted, origin, source in rows:
            print(f"{version}  {status:<10}  validation macro-F1 {val_f1:.4f}  test {test_f1 if test_f1 is None else round(test_f1, 4)}"
                  f"  created {created:%Y-%m-%d %H:%M}  " + (f"imported from {source}" if origin == "imported" else "trained here"))
        return 0
    if args.action == "export":
        return _export(args)
    if args.action == "import":
        return _import(args)
    with writer(args.db) as con, transaction(con):
        if args.action == "promote":
            if not args.version:
                raise registry.RegistryError("`homewatch model promote` needs a VERSION (see `homewatch model list`)")
            registry.promote(con, args.version)
            version = args.version
        else:
            version = registry.rollback(con)
    _say("model", f"{version} is now the production model; `homewatch score` predicts any steps it has not "
                  "scored yet")
    _refresh_marts(args.db, "model")
    return 0


def _export(args) -> int:
    from models_ml.package import PackageError, export_package
    from warehouse.connection import reader

    if not args.version or not args.path:
        raise PackageError("`homewatch model export` needs a VERSION (or 'production') and a PATH")
    with reader(args.db) as con:
        version, path = export_package(con, args.version, Path(args.path), args.db)
    _say("model", f"exported {version} to {path}; import it into another warehouse with "
                  f"`homewatch model import {path}`")
    return 0


def _import(args) -> int:
    from models_ml.package import PackageError, import_package
    from warehouse.connection import has_table, reader, transaction, writer

    path = args.path or args.version      # `model import PATH`: the one positional is the path
    if not path:
        raise PackageError("`homewatch model import` needs the PATH of a package (`homewatch model export` makes one)")
    with writer(args.db) as con, transaction(con):
        result = import_package(con, Path(path), args.db, promote=args.promote)
    _say("model", result.message)
    if result.already:
        return 0
    if result.status == "production":
        _say("model", "it is the production model: `homewatch score` predicts with it (after `homewatch build`)")
        with reader(args.db) as con:
            built = has_table(con, "marts", "fct_classified_anomalies")
        if built:
            _refresh_marts(args.db, "model")
    else:
        _say("model", f"a candidate: `homewatch model promote {result.version}` makes it the production model")
    return 0


def ship_model(db) -> Path | None:
    """The main job's last step: export the production model as a package a newcomer with only
    real data can import (models_ml/package.py `ship`: model-packages/ next to the model store,
    `latest` pointing at the newest). Well under a second: a few small files and their checksums."""
    from models_ml.package import ship
    from warehouse.connection import reader

    with reader(db) as con:
        folder = ship(con, db)
    if folder is not None:
        _say("model", f"the production model is packaged in {folder} (also {folder.parent / 'latest'}): "
                      f"`homewatch model import {folder.parent / 'latest'} --db OTHER.duckdb` scores another warehouse")
    return folder


def add_commands(subs, sub) -> None:
    """Register the subcommands on the main parser (`sub` is scripts.cli._sub)."""
    from models_ml.config import ARCHITECTURES, TrainConfig
    p = sub(subs, "train", cmd_train, "Train the classifier on the train households, export it to ONNX (+ int8), "
            "evaluate it on the test households and register it (promoted if it beats production).",
            "homewatch train --epochs 3           # a quick run; --set hidden=64 --set lr=0.001 for any option")
    p.add_argument("--arch", choices=list(ARCHITECTURES), help=f"architecture (default {TrainConfig.arch})")
    p.add_argument("--epochs", type=int, help="maximum epochs (default 12; early stopping on validation macro-F1)")
    p.add_argument("--window", type=int, help="steps per window (default 12 = 1 hour)")
    p.add_argument("--imbalance", choices=["weighted", "focal", "sampler"], help="class imbalance handling (default weighted)")
    p.add_argument("--seed", type=int, help="random seed (default 7)")
    p.add_argument("--set", type=_option, action="append", metavar="KEY=VALUE",
                   help="any training option of models_ml/config.py, e.g. hidden=64; repeatable")
    p.add_argument("--no-labels", action="store_true",
                   help="do not fine-tune on the warehouse's labelled alerts afterwards (default: when there are "
                        "labels, the production model is fine-tuned on them, as `homewatch finetune` does)")
    add_reports_dir(p)

    p = sub(subs, "evaluate", cmd_evaluate, "Evaluate a model against the rules and an Isolation Forest on held-out "
            "households; store the metrics in ml.evaluation_metrics and write the report.",
            "homewatch evaluate --split test")
    p.add_argument("--version", help="model version (default: the production model)")
    p.add_argument("--split", choices=["test", "validation"], default="test", help="households to evaluate on (default test)")
    add_reports_dir(p)

    p = sub(subs, "score", cmd_score, "Score the steps that have no prediction yet with the production model "
            "(ONNX Runtime), write them to ml.predictions and rebuild marts.fct_classified_anomalies.",
            "homewatch score")
    p.add_argument("--version", help="model version (default: the production model)")
    p.add_argument("--precision", choices=["auto", "fp32", "int8"], default="auto",
                   help="which ONNX file to run (default auto: int8 when it kept the validation macro-F1)")
    p.add_argument("--force", action="store_true", help="score even batches that failed a critical quality check")
    p.add_argument("--target", choices=["dev", "spark"], default="dev",
                   help="spark: score the warehouse's Spark side with mapInPandas (docs/scale-out.md)")

    p = sub(subs, "model", cmd_model, "List model versions, force one into production, roll back, or carry a "
            "model to another warehouse: `export VERSION PATH` writes a checksummed package (a folder, or PATH.zip), "
            "`import PATH` verifies one and registers it (production if the warehouse has none, or with --promote; "
            "else a candidate).",
            "homewatch model list   |   homewatch model promote cnn-20250101T000000-abc123   |   homewatch model rollback\n"
            "  homewatch model export production /tmp/pkg   |   homewatch model import /tmp/pkg --db home.duckdb")
    p.add_argument("action", choices=["list", "promote", "rollback", "export", "import"])
    p.add_argument("version", nargs="?", help="the version to promote or export ('production': the production "
                   "model); for import, the package PATH")
    p.add_argument("path", nargs="?", help="export: the package to write (a new folder, or a .zip)")
    p.add_argument("--promote", action="store_true", help="import: make the imported model production")
