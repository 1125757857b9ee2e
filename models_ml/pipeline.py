"""`homewatch train` and `homewatch evaluate`: train, export, check, quantize, evaluate,
save the artifacts, register (and maybe promote), record the metrics.

Training reads the warehouse through a read-only connection (other jobs can read meanwhile);
the registry and metrics are written at the end in one transaction, so a failed run leaves
no half-registered model (its folder, if written, is removed).
"""
from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models_ml import data, evaluate as ev, registry
from models_ml.config import TrainConfig
from models_ml.export import (QUANTIZABLE, ExportError, export_onnx, max_abs_difference, quantize_int8, series_logits,
                              session, takes_sequences)
from models_ml.package import describe_training
from warehouse.taxonomy import ANOMALY_CLASSES
from warehouse.connection import reader, transaction, utcnow, writer

PARITY_TOLERANCE = 1e-4       # largest |logit difference| allowed between torch and ONNX Runtime
INT8_MAX_F1_DROP = 0.005      # int8 is used for scoring only if validation macro-F1 drops less
CALIBRATION_WINDOWS = 4096    # validation windows for int8 calibration and the parity check
PARITY_STEPS = 5000           # a sequence model's series-at-once parity check: steps of one validation household


@dataclass
class TrainOutcome:
    version: str
    promoted: bool
    folder: Path
    metadata: dict
    evaluation: ev.Evaluation


def _val_probabilities(sess, con, meta, val_ids,
                       evidence: list | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(labels, class probabilities) of each validation household under an ORT session. Given
    a list as `evidence`, appends to it each household's physical evidence as the mart asks it
    (evaluate.needed_evidence), in the same order, from the same read."""
    out = []
    for series in data.iter_households(con, val_ids, meta["feature_columns"]):
        out.append((series.labels, ev.predict_onnx(sess, series.X, int(meta["window"]), meta["feature_columns"])))
        if evidence is not None:
            evidence.append(ev.needed_evidence(con, series))
    return out


def _macro_f1(households, weights=None) -> float:
    """Step-level validation macro-F1 of decide(p, weights) (the promotion metric)."""
    from models_ml.metrics import decide, macro_f1

    return macro_f1(np.concatenate([y for y, _ in households]),
                    np.concatenate([decide(p, weights) for _, p in households]))


def sequence_difference(model, sess, X: np.ndarray, window: int) -> float:
    """Largest absolute logit difference between torch, window by window, and ONNX Runtime
    reading the series at once (the scorer's way) over a household's (T, F) features."""
    import torch

    model.eval()
    with torch.inference_mode():
        expected = model(torch.from_numpy(np.ascontiguousarray(data.windows(X, window)))).numpy()
    return float(np.abs(expected - series_logits(sess, X, window)).max())


def _calibration_windows(con, household_ids: list[str], columns: list[str], cfg: TrainConfig) -> np.ndarray:
    """Windows from every validation household, anomalies over-represented (a third), so int8
    calibration sees the activations of rare classes too."""
    rng = np.random.default_rng(cfg.seed)
    per_household = max(CALIBRATION_WINDOWS // max(len(household_ids), 1), 8)
    chunks = []
    for series in data.iter_households(con, household_ids, columns):
        wins = data.windows(series.X, cfg.window)
        anomalous = np.flatnonzero(series.labels != 0) if series.labels is not None else np.zeros(0, dtype=np.int64)
        n_anomalous = min(len(anomalous), per_household // 3)
        idx = np.concatenate([rng.choice(anomalous, n_anomalous, replace=False),
                              rng.choice(len(wins), min(len(wins), per_household - n_anomalous), replace=False)])
        chunks.append(wins[np.sort(idx)])
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def _timing(sess, X: np.ndarray, window: int, repeat: int = 3) -> float:
    """Windows per second of an ORT session scoring a household's (T, F) features the way the
    scorer does (a sequence model reads the series once; see export.series_logits), best of
    a few runs."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        series_logits(sess, X, window)
        best = min(best, time.perf_counter() - t)
    return len(X) / best


def train_and_register(db, cfg: TrainConfig, progress=print, report_dir: Path | None = None) -> TrainOutcome:
    from models_ml.train import train

    started = time.monotonic()
    created = utcnow()
    version = registry.new_version(cfg.arch, created, cfg.to_dict())
    folder = registry.models_dir(db) / version
    folder.mkdir(parents=True, exist_ok=False)
    try:
        with reader(db) as con:
            result = train(con, cfg, progress, started)
            meta = {
                "model_version": version,
                "created_at": created.isoformat(),
                "feature_columns": result.columns,
                "window": cfg.window,
                "step_minutes": result.step_minutes,
                "classes": {str(k): v for k, v in ANOMALY_CLASSES.items()},
                "normalization": {"mean": result.model.normalize.mean.tolist(),
                                  "scale": result.model.normalize.scale.tolist(),
                                  "note": "applied inside the model (its first layer); inputs are raw feature rows"},
                "input": {"name": "windows", "dtype": "float32",
                          "shape": ["batch", "steps" if result.model.sequence else cfg.window, len(result.columns)],
                          "note": ("a sequence model: any steps >= window in, the logits of every window in them "
                                   "out (batch * (steps - window + 1), classes)") if result.model.sequence
                                  else "windows in, one row of logits per window out"},
                "training_data": {"first_step": result.data_range[0], "last_step": result.data_range[1],
                                  "train_households": len(result.train_households),
                                  "validation_households": len(result.validation_households),
                                  "train_windows": result.n_train_windows, "class_counts": result.class_counts},
                # grid step, sensors and a data summary: what a package carries to another warehouse
                **describe_training(con, result.train_households, result.validation_households, result.data_range),
                "config": cfg.to_dict(),
                "history": result.history,
                "best_epoch": result.best_epoch,
                "training_seconds": round(result.seconds, 1),
                # what the out-of-distribution check compares a home with (models_ml/ood.py)
                "ood": result.ood_reference,
            }
            registry.save_weights(result.model.state_dict(), folder / registry.WEIGHTS)
            export_onnx(result.model, cfg.window, len(result.columns), folder / registry.ONNX_FP32)
            val_ids = result.validation_households
            calib = _calibration_windows(con, val_ids, result.columns, cfg)
            diff = max_abs_difference(result.model, folder / registry.ONNX_FP32, calib)
            fp32 = session(folder / registry.ONNX_FP32, cfg.threads)
            timing_series = next(s.X for s in data.iter_households(con, val_ids, result.columns, with_labels=False))
            if takes_sequences(fp32):    # a whole series in one pass gives each window's logits
                diff = max(diff, sequence_difference(result.model, fp32, timing_series[:PARITY_STEPS], cfg.window))
            if diff > PARITY_TOLERANCE:
                raise ExportError(f"the ONNX export does not match torch: largest logit difference {diff:.2e} "
                                  f"> {PARITY_TOLERANCE:g}")
            val_evidence = []      # the decision is fitted to what the mart raises
            val_probs = _val_probabilities(fp32, con, meta, val_ids, val_evidence if cfg.calibrate_decision else None)
            f1_fp32 = _macro_f1(val_probs)
            # validation_macro_f1_best_epoch: the figure that chose the epoch (torch, the sampled
            # validation steps, decision weights fitted to them); the others are over every step
            metrics = {"validation_macro_f1": f1_fp32, "validation_macro_f1_best_epoch": result.val_macro_f1,
                       "validation_macro_f1_onnx_fp32": f1_fp32, "onnx_max_abs_diff": diff,
                       "fp32_windows_per_s": round(_timing(fp32, timing_series, cfg.window))}
            meta["scoring_file"] = registry.ONNX_FP32
            if cfg.arch in QUANTIZABLE:
                progress("quantizing to int8 (static, calibrated on validation windows)")
                quantize_int8(folder / registry.ONNX_FP32, calib, folder / registry.ONNX_INT8)
                int8 = session(folder / registry.ONNX_INT8, cfg.threads)
                val_int8 = _val_probabilities(int8, con, meta, val_ids)
                f1_int8 = _macro_f1(val_int8)
                metrics.update({
                    "validation_macro_f1_int8": f1_int8,
                    "int8_windows_per_s": round(_timing(int8, timing_series, cfg.window)),
                    "fp32_bytes": (folder / registry.ONNX_FP32).stat().st_size,
                    "int8_bytes": (folder / registry.ONNX_INT8).stat().st_size})
                if f1_fp32 - f1_int8 <= INT8_MAX_F1_DROP:
                    meta["scoring_file"] = registry.ONNX_INT8
                    # promotion compares what scoring runs
                    metrics["validation_macro_f1"] = f1_int8
                    val_probs = val_int8
            if cfg.calibrate_decision:
                from models_ml.metrics import fit_decision_weights

                progress("fitting per-class decision weights on the validation households")
                step_minutes = int(meta["step_minutes"])
                bridge = max(int(ev.dbt_var("event_bridge_minutes")) // step_minutes, 1)
                weights, seen_f1 = fit_decision_weights(val_probs, bridge, ev.min_steps(step_minutes),
                                                        evidence=val_evidence)
                meta["decision_weights"] = weights
                metrics.update({"validation_macro_f1_argmax": metrics["validation_macro_f1"],
                                "validation_macro_f1": _macro_f1(val_probs, weights),
                                "validation_macro_f1_blips_dropped": seen_f1})
                progress(f"decision weights {weights}: validation macro-F1 {metrics['validation_macro_f1_argmax']:.4f} "
                         f"-> {metrics['validation_macro_f1']:.4f} (blips dropped: {seen_f1:.4f})")
            scoring = session(folder / meta["scoring_file"], cfg.threads)
            progress(f"evaluating {version} ({meta['scoring_file']}) on the test households")
            meta["metrics"] = metrics
            evaluation = ev.evaluate(con, scoring, meta, "test", progress)
            metrics["test_macro_f1"] = evaluation.summaries["classifier"]["macro_f1"]
            metrics["test"] = evaluation.summaries            # incl. the confusion matrices
            metrics["test_pr_curves"] = ev.pr_curve_points(evaluation)
        meta["run_seconds"] = round(time.monotonic() - started, 1)     # the whole run, against max_minutes
        (folder / registry.METADATA).write_text(json.dumps(meta, indent=2, default=str))
        with writer(db) as con, transaction(con):
            promoted = registry.register(con, meta, folder)
            write_metrics(con, version, evaluation)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if report_dir is not None:
        from models_ml.report import write_evaluation_report

        write_evaluation_report(report_dir, meta, evaluation)
    return TrainOutcome(version, promoted, folder, meta, evaluation)


def write_metrics(con, version: str, evaluation: ev.Evaluation) -> str:
    run_id = uuid.uuid4().hex[:12]
    now = utcnow()
    rows = [(run_id, version, *r, now) for r in ev.metric_rows(evaluation)]
    con.executemany("insert into ml.evaluation_metrics (run_id, model_version, split, method, level, anomaly_class, "
                    "metric, value, support, evaluated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return run_id


def evaluate_version(db, version: str | None = None, split: str = "test", progress=print,
                     report_dir: Path | None = None) -> tuple[str, ev.Evaluation]:
    from models_ml.score import load_model

    with reader(db) as con:
        version, meta, sess, _ = load_model(con, version)
        evaluation = ev.evaluate(con, sess, meta, split, progress)
    with writer(db) as con, transaction(con):
        write_metrics(con, version, evaluation)
    if report_dir is not None:
        from models_ml.report import write_evaluation_report

        write_evaluation_report(report_dir, meta, evaluation)
    return version, evaluation
