"""Fine-tune the production classifier on people's labels (issue 17, section 3, third bullet).

The labelled alerts (ops.alert_feedback, the newest label of each alert, `unsure` left out)
become labelled steps: every step of a `true` alert is its class (the corrected class if the
label gave one, else the alert's named class; a generic alert without a corrected class is left
out: nobody said which of the five it was), every step of a `false` alert is normal (class 0).
The alerts are split by id into a part to train on and a held-out part
(`alert_id % 10 < heldout_tenths`) that only judges.

Starting from the production model's weights (and its normalisation), a few epochs at a low
learning rate go over the simulated training windows (models_ml.train.build_training_set, as
`homewatch train` picks them) together with the labelled windows (at most `steps_per_alert`
of each alert, drawn with replacement to `feedback_share` of all windows: the labels steer,
the simulated data keep what the model knew). The result is a new registry version
(weights.npz, model.onnx, metadata.json: never a pickle), origin `finetuned`, with decision
weights fitted again on the validation households, and it is promoted only if

- on the simulator's held-out (test) households its macro-F1 and event recall are not lower and
  its false alarms per household-week not higher than the production model's, both scored by
  the same evaluation (models_ml.evaluate), and
- on the held-out labelled steps its accuracy is higher than the production model's.

Otherwise it stays a candidate (`homewatch model promote` can still force it). Nothing here
changes models_ml/train.py or data.py: it calls their functions.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np

from models_ml import data, evaluate as ev, registry
from models_ml.config import TrainConfig
from models_ml.export import ExportError, export_onnx, max_abs_difference, session
from models_ml.pipeline import PARITY_TOLERANCE
from warehouse.connection import reader, transaction, utcnow, writer
from warehouse.dbhelpers import has_table
from warehouse.taxonomy import CLASS_OF


class FinetuneError(data.DataError):
    """Fine-tuning cannot start; the message says what is missing."""


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 3
    lr: float = 3e-4               # a tenth of training's: move the weights, do not retrain
    batch_size: int = 256
    feedback_share: float = 0.2    # the labelled windows, drawn with replacement, make this share of the whole
    steps_per_alert: int = 24      # at most this many steps of one alert (a long one must not outweigh the rest)
    heldout_tenths: int = 3        # alerts with alert_id % 10 below this judge, the rest train
    max_per_class: int = 4000      # simulated windows per anomaly class (the train split's share)
    max_normal: int = 12000
    seed: int = 7


@dataclasses.dataclass
class LabelledSteps:
    X: np.ndarray                  # (N, window, F) windows ending at the labelled steps
    y: np.ndarray                  # (N,) class per step
    alerts: int


@dataclasses.dataclass
class FinetuneOutcome:
    version: str
    base_version: str
    promoted: bool
    folder: Path
    figures: dict


def labelled_steps(con, columns: list[str], window: int, heldout_tenths: int,
                   steps_per_alert: int = 24) -> tuple[LabelledSteps, LabelledSteps]:
    """(train part, held-out part) of the labelled alerts' steps (see the module doc), at most
    steps_per_alert of each alert, spread over it."""
    if not has_table(con, "ops", "alert_feedback"):
        raise FinetuneError("no ops.alert_feedback in this warehouse: label alerts first (`homewatch label`)")
    rows = con.execute(
        "select a.alert_id, a.household_id, a.alert_class, a.onset_at, a.end_at, f.label, f.corrected_class "
        "from ops.alerts a join (select * from ops.alert_feedback qualify row_number() over "
        "(partition by alert_id order by feedback_id desc) = 1) f using (alert_id) "
        "where f.label in ('true', 'false') order by a.household_id, a.alert_id").fetchall()
    parts: dict[bool, tuple[list, list, set]] = {True: ([], [], set()), False: ([], [], set())}
    series = None
    for alert_id, household, alert_class, onset, end, label, corrected in rows:
        cls = 0 if label == "false" else CLASS_OF.get(corrected or alert_class)
        if not cls and label == "true":
            continue                     # a true generic alert: which class it was is unknown
        if series is None or series.household_id != household:
            series = data.read_household(con, household, columns, with_labels=False)
            steps_windows = data.windows(series.X, window) if len(series.X) else None
        if steps_windows is None:
            continue
        lo, hi = np.searchsorted(series.steps, np.datetime64(onset, "us")), \
            np.searchsorted(series.steps, np.datetime64(end, "us"), side="right")
        if hi <= lo:
            continue
        xs, ys, ids = parts[alert_id % 10 < heldout_tenths]
        take = np.unique(np.linspace(lo, hi - 1, min(hi - lo, steps_per_alert)).round().astype(np.int64))
        xs.append(np.array(steps_windows[take]))
        ys.append(np.full(len(take), cls, dtype=np.int64))
        ids.add(alert_id)

    def pack(xs, ys, ids) -> LabelledSteps:
        if not xs:
            return LabelledSteps(np.zeros((0, window, len(columns)), np.float32), np.zeros(0, np.int64), 0)
        return LabelledSteps(np.concatenate(xs), np.concatenate(ys), len(ids))

    train, heldout = pack(*parts[False]), pack(*parts[True])
    if not train.alerts or not heldout.alerts:
        raise FinetuneError(f"fine-tuning needs labelled alerts on both sides of the split (alert_id % 10 < "
                            f"{heldout_tenths} judges): {train.alerts} to train on, {heldout.alerts} held out; "
                            "label more alerts (`homewatch label`)")
    return train, heldout


def _accuracy(sess, meta: dict, steps: LabelledSteps) -> float:
    """The share of held-out labelled steps the model gives their label (decision weights applied)."""
    from models_ml.metrics import decide
    from models_ml.score import _softmax

    logits = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: steps.X[s:s + 4096]})[0]
                             for s in range(0, len(steps.y), 4096)])
    return float((decide(_softmax(logits), meta.get("decision_weights")) == steps.y).mean())


def _number(value) -> float:
    return 0.0 if value is None or value != value else float(value)


def not_worse_on_simulator(figures: dict) -> bool:
    """The fine-tuned model keeps the simulator's quality on the test households: macro-F1 and
    event recall not lower, false alarms per household-week not higher than production's."""
    return (figures["test_macro_f1"] >= figures["base_test_macro_f1"]
            and figures["test_event_recall"] >= figures["base_test_event_recall"]
            and figures["test_false_alarms_per_household_week"]
            <= figures["base_test_false_alarms_per_household_week"])


def _fit(model, X: np.ndarray, y: np.ndarray, cfg: TrainConfig, ft: FinetuneConfig) -> list[dict]:
    import torch

    from models_ml.train import _loss_fn

    torch.manual_seed(ft.seed)
    rng = np.random.default_rng(ft.seed)
    optimizer = torch.optim.AdamW((p for n, p in model.named_parameters() if not n.startswith("normalize")),
                                  lr=ft.lr, weight_decay=cfg.weight_decay)
    loss_fn = _loss_fn(cfg, np.bincount(y, minlength=len(cfg.classes)))
    history = []
    for epoch in range(1, ft.epochs + 1):
        model.train()
        order, total, batches = rng.permutation(len(y)), 0.0, 0
        for s in range(0, len(y), ft.batch_size):
            idx = order[s:s + ft.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(torch.from_numpy(np.ascontiguousarray(X[idx]))), torch.from_numpy(y[idx]))
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        history.append({"epoch": epoch, "loss": total / max(batches, 1)})
    model.eval()
    return history


def finetune(db, ft: FinetuneConfig = FinetuneConfig(), progress=print) -> FinetuneOutcome:
    """Fine-tune the production model on the labels, register the result, promote it if it
    passes both checks (module doc)."""
    import torch

    from models_ml.nets import WindowClassifier
    from models_ml.score import load_model
    from models_ml.train import build_training_set

    started = time.monotonic()
    with reader(db) as con:
        base_version, base_meta, base_sess, _ = load_model(con, precision="fp32")
        columns, window = base_meta["feature_columns"], int(base_meta["window"])
        if data.feature_columns(con) != columns:
            raise FinetuneError(f"the warehouse's feature columns differ from {base_version}'s: "
                                "train a new model (`homewatch train`) instead")
        cfg = TrainConfig.from_dict(base_meta["config"]).with_overrides(
            max_per_class=ft.max_per_class, max_normal=ft.max_normal, seed=ft.seed)
        train_part, heldout = labelled_steps(con, columns, window, ft.heldout_tenths, ft.steps_per_alert)
        progress(f"labelled steps: {len(train_part.y)} from {train_part.alerts} alerts to train on, "
                 f"{len(heldout.y)} from {heldout.alerts} held out")
        splits, labelled = data.household_splits(con), data.labelled_households(con)
        train_ids = sorted(h for h, s in splits.items() if s == "train" and h in labelled)
        if not train_ids:
            raise FinetuneError("no simulated train household: fine-tuning keeps the simulator's data in the mix "
                                "(`homewatch simulate`, `homewatch build`)")
        X_sim, y_sim, _ = build_training_set(con, train_ids, columns, cfg, progress)
        n_feedback = int(len(y_sim) * ft.feedback_share / (1 - ft.feedback_share))
        pick = np.random.default_rng(ft.seed).choice(len(train_part.y), n_feedback, replace=True)
        X = np.concatenate([X_sim, train_part.X[pick]])
        y = np.concatenate([y_sim, train_part.y[pick]])
        folder_base = Path(con.execute("select artifact_dir from ml.model_registry where model_version = ?",
                                       [base_version]).fetchone()[0])
        model = WindowClassifier(len(columns), cfg)
        model.load_state_dict(registry.load_weights(folder_base / registry.WEIGHTS))
        progress(f"fine-tuning {base_version}: {ft.epochs} epoch(s) over {len(y):,} windows at lr {ft.lr}")
        history = _fit(model, X, y, cfg, ft)
        created = utcnow()
        version = registry.new_version(cfg.arch, created, {**cfg.to_dict(), "finetuned_from": base_version})
        folder = registry.models_dir(db) / version
        folder.mkdir(parents=True, exist_ok=False)
        try:
            registry.save_weights(model.state_dict(), folder / registry.WEIGHTS)
            export_onnx(model, window, len(columns), folder / registry.ONNX_FP32)
            diff = max_abs_difference(model, folder / registry.ONNX_FP32, heldout.X[:512])
            if diff > PARITY_TOLERANCE:
                raise ExportError(f"the ONNX export does not match torch: largest logit difference {diff:.2e}")
            meta = {k: v for k, v in base_meta.items() if k not in ("metrics", "history", "best_epoch")}
            meta.update({"model_version": version, "created_at": created.isoformat(),
                         "scoring_file": registry.ONNX_FP32, "finetuned_from": base_version,
                         "finetune": {**dataclasses.asdict(ft), "history": history,
                                      "train_alerts": train_part.alerts, "train_steps": int(len(train_part.y)),
                                      "heldout_alerts": heldout.alerts, "heldout_steps": int(len(heldout.y))}})
            sess = session(folder / registry.ONNX_FP32, cfg.threads)
            if base_meta.get("decision_weights") is not None:
                # the production model's per-class decision weights were fitted to its own
                # probabilities: fit the fine-tuned model's again, on the validation households
                from models_ml.metrics import fit_decision_weights
                from models_ml.pipeline import _val_probabilities

                val_ids = sorted(h for h, s in splits.items() if s == "validation" and h in labelled)
                bridge = max(int(ev.dbt_var("event_bridge_minutes")) // int(meta["step_minutes"]), 1)
                evidence = []
                probabilities = _val_probabilities(sess, con, meta, val_ids, evidence)
                meta["decision_weights"], _ = fit_decision_weights(
                    probabilities, bridge, ev.min_steps(int(meta["step_minutes"])), evidence=evidence)
            progress("judging both models on the simulator's test households and the held-out labels")
            base_eval = ev.evaluate(con, base_sess, base_meta, "test", lambda m: None, with_baselines=False)
            new_eval = ev.evaluate(con, sess, meta, "test", lambda m: None, with_baselines=False)
            figures = {"onnx_max_abs_diff": diff}
            for name, evaluation in (("base_", base_eval), ("", new_eval)):
                card = evaluation.summaries["classifier"]
                figures.update({f"{name}test_macro_f1": _number(card["macro_f1"]),
                                f"{name}test_false_alarms_per_household_week":
                                    _number(card["false_alarms_per_household_week"]),
                                f"{name}test_event_recall": _number(card["event_recall"])})
            figures["base_heldout_label_accuracy"] = _accuracy(base_sess, base_meta, heldout)
            figures["heldout_label_accuracy"] = _accuracy(sess, meta, heldout)
            promote = (not_worse_on_simulator(figures)
                       and figures["heldout_label_accuracy"] > figures["base_heldout_label_accuracy"])
            figures["promoted"] = promote
            meta["metrics"] = {**base_meta.get("metrics", {}), **figures,
                               "validation_macro_f1": base_meta.get("metrics", {}).get("validation_macro_f1", 0.0)}
            meta["run_seconds"] = round(time.monotonic() - started, 1)
            (folder / registry.METADATA).write_text(json.dumps(meta, indent=2, default=str))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    try:
        with writer(db) as con, transaction(con):
            now = utcnow()
            registry.insert(con, meta, folder, now, origin="finetuned")
            con.execute("update ml.model_registry set test_macro_f1 = ? where model_version = ?",
                        [figures["test_macro_f1"], version])
            if promote:
                registry.make_production(con, version, now)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FinetuneOutcome(version, base_version, promote, folder, figures)


def describe(outcome: FinetuneOutcome) -> str:
    f = outcome.figures
    verdict = ("promoted: production now" if outcome.promoted else
               "kept as a candidate, production unchanged (it must keep the test households' macro-F1, event recall and "
               "false alarms, and beat the production model on the held-out labels)")
    return (f"{outcome.version} fine-tuned from {outcome.base_version}: test macro-F1 {f['test_macro_f1']:.4f} "
            f"(production {f['base_test_macro_f1']:.4f}), held-out labelled steps right "
            f"{f['heldout_label_accuracy']:.3f} (production {f['base_heldout_label_accuracy']:.3f}); {verdict}")

