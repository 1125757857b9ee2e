"""Training: windows from the train households, early stopping on the validation households.

The training set keeps every window that matters (anomalies, the steps around them, hard
negatives, sensor faults, anything the rules flagged) and a `normal_keep` share of the plain
normal ones, which are many and alike: at the default scale this is what lets training fit
in minutes on two cores. Validation runs on every step of the validation households, so
the macro-F1 that picks the epoch is measured on the real class balance.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import duckdb
import numpy as np
import torch
from torch.nn import functional as F

from models_ml import data, export, ood
from models_ml.config import TrainConfig
from models_ml.metrics import fitted_macro_f1, macro_f1
from models_ml.nets import WindowClassifier
from models_ml.sensors import SensorMasker

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    model: WindowClassifier
    columns: list[str]
    step_minutes: int
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    val_macro_f1: float = 0.0
    n_train_windows: int = 0
    class_counts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    train_households: list[str] = field(default_factory=list)
    validation_households: list[str] = field(default_factory=list)
    data_range: tuple = ("", "")
    ood_reference: dict = field(default_factory=dict)


def _event_mask(steps: np.ndarray, events: list[tuple], kinds: tuple[str, ...]) -> np.ndarray:
    mask = np.zeros(len(steps), dtype=bool)
    for _, kind, _, _, start, end in events:
        if kind in kinds:
            lo, hi = np.searchsorted(steps, [np.datetime64(start, "us"), np.datetime64(end, "us")])
            mask[lo:hi] = True
    return mask


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or not mask.any():
        return mask
    kernel = np.ones(2 * k + 1, dtype=np.int32)
    return np.convolve(mask.astype(np.int32), kernel, mode="full")[k:k + len(mask)] > 0


def select_windows(series: data.HouseholdSeries, events: list[tuple], cfg: TrainConfig,
                   rng: np.random.Generator, n_households: int) -> np.ndarray:
    """Indices of the steps whose windows go into the training set: a household's share of
    each class's cap, normal windows near anomalies, hard negatives, faults and rule flags
    first, then plain normal ones."""
    labels = series.labels
    chosen = []
    for c in np.unique(labels[labels != 0]):
        idx = np.flatnonzero(labels == c)
        quota = max(cfg.max_per_class // n_households, 1)
        chosen.append(idx if len(idx) <= quota else np.sort(rng.choice(idx, quota, replace=False)))
    normal = labels == 0
    # the rules' false alarms (a rule fired, nothing happened: heating switched off for the
    # season, a long shower) are where the model must learn to say no; among the other hard
    # negatives (anomalies' surroundings, normal events, faults) they would be a small share
    rule_wrong = normal & (series.rule_class != 0)
    hard = normal & ~rule_wrong & (_dilate(labels != 0, cfg.context_steps)
                                   | _event_mask(series.steps, events, ("normal", "fault")))
    plain = normal & ~hard & ~rule_wrong & (rng.random(len(labels)) < cfg.normal_keep)
    full = max(cfg.max_normal // n_households, 1)
    # the rules' false alarms take up to a third of the normal quota, hard normal windows
    # together up to two thirds, plain ones the rest
    quota = full
    for mask, cap in ((rule_wrong, full / 3), (hard, 2 * full / 3), (plain, full)):
        idx = np.flatnonzero(mask)
        take = max(min(len(idx), int(cap - (full - quota)), quota), 0)
        chosen.append(np.sort(rng.choice(idx, take, replace=False)) if take < len(idx) else idx)
        quota -= take
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def build_training_set(con: duckdb.DuckDBPyConnection, households: list[str], columns: list[str],
                       cfg: TrainConfig, progress: Progress) -> tuple[np.ndarray, np.ndarray, dict]:
    """Windows and labels of the selected steps, streamed household by household; also the
    per-feature mean and spread over every step of these households (for normalisation)."""
    rng = np.random.default_rng(cfg.seed)
    sampler = np.random.default_rng(cfg.seed + 4)   # its own stream: the windows chosen stay the same
    xs, ys, ood_rows = [], [], []
    total = np.zeros(len(columns), dtype=np.float64)
    total_sq = np.zeros(len(columns), dtype=np.float64)
    n = 0
    first, last = None, None
    events = data.injected_events(con, households)
    by_household: dict[str, list] = {}
    for e in events:
        by_household.setdefault(e[0], []).append(e)
    for i, series in enumerate(data.iter_households(con, households, columns)):
        if series.labels is None:
            continue
        total += series.X.sum(axis=0, dtype=np.float64)
        total_sq += np.square(series.X, dtype=np.float64).sum(axis=0)
        n += len(series.X)
        first = series.steps[0] if first is None else min(first, series.steps[0])
        last = series.steps[-1] if last is None else max(last, series.steps[-1])
        idx = select_windows(series, by_household.get(series.household_id, []), cfg, rng, len(households))
        xs.append(data.windows(series.X, cfg.window)[idx].copy())
        per_household = max(cfg.ood_sample_rows // len(households), 1)
        ood_rows.append(series.X if len(series.X) <= per_household
                        else series.X[np.sort(sampler.choice(len(series.X), per_household, replace=False))])
        ys.append(series.labels[idx])
        if (i + 1) % 10 == 0:
            progress(f"read {i + 1}/{len(households)} training households")
    if not xs:
        raise data.DataError("no training household has ground truth: training needs simulated, labelled data "
                             "(`homewatch simulate`, then `homewatch build`)")
    mean = total / max(n, 1)
    std = np.sqrt(np.maximum(total_sq / max(n, 1) - mean ** 2, 0))
    stats = {"mean": mean.astype(np.float32).tolist(),
             "scale": np.where(std > 1e-6, std, 1.0).astype(np.float32).tolist(),
             "first_step": str(first), "last_step": str(last), "ood_rows": np.concatenate(ood_rows)}
    return np.concatenate(xs), np.concatenate(ys), stats


def predict_proba(model: WindowClassifier, X: np.ndarray, window: int, batch: int = 8192,
                  steps: np.ndarray | None = None) -> np.ndarray:
    """Class probabilities for every step of one household's (T, F) features, or for the
    given step indices only (torch). A sequence model reads the whole series once (cheaper
    than even a sample of its windows), any other the windows asked for."""
    out = np.empty((len(X) if steps is None else len(steps), model.n_classes), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        if model.sequence and len(X):
            pieces = data.segments(X, window, length=export.SEGMENT_STEPS)
            per_run = max(batch // pieces.shape[1], 1)
            logits = torch.cat([model.forward_sequence(torch.from_numpy(np.array(pieces[s:s + per_run])))
                                .reshape(-1, out.shape[1]) for s in range(0, len(pieces), per_run)])[:len(X)]
            return torch.softmax(logits if steps is None else logits[torch.from_numpy(steps)], 1).numpy()
        w = data.windows(X, window)
        for s in range(0, len(out), batch):
            chunk = w[s:s + batch] if steps is None else w[steps[s:s + batch]]
            out[s:s + batch] = torch.softmax(model(torch.from_numpy(np.ascontiguousarray(chunk))), 1).numpy()
    return out


def validation_sample(labels: np.ndarray, context_steps: int, stride: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The validation steps an epoch is judged on, and their weights: every step of an anomaly
    and within context_steps of one (where the classes are told apart), and a random one in
    `stride` of the other normal steps, weighted by stride. The weighted confusion matrix
    estimates the one over every step (far from anomalies the only errors are false alarms)
    at a fraction of the inference. Random, not every stride-th step: false alarms cluster at
    times of day (the hour a baseline changes), which a fixed stride would alias."""
    near = _dilate(labels != 0, context_steps)
    keep = near | (rng.random(len(labels)) < 1.0 / max(stride, 1))
    idx = np.flatnonzero(keep)
    return idx, np.where(near[idx], 1.0, float(max(stride, 1)))


def _loss_fn(cfg: TrainConfig, counts: np.ndarray):
    freq = counts / counts.sum()
    # inverse square-root frequency: rare classes count more without swamping the normal one
    weights = torch.tensor(np.where(counts > 0, 1 / np.sqrt(np.maximum(freq, 1e-12)), 0), dtype=torch.float32)
    weights = weights / weights[counts > 0].mean()
    if cfg.imbalance == "weighted":
        return lambda logits, y: F.cross_entropy(logits, y, weight=weights)
    if cfg.imbalance == "focal":
        def focal(logits, y):
            logp = F.log_softmax(logits, 1).gather(1, y[:, None])[:, 0]
            return (-(1 - logp.exp()) ** cfg.focal_gamma * logp * weights[y]).mean()
        return focal
    return lambda logits, y: F.cross_entropy(logits, y)   # sampler: batches are balanced instead


class _Schedule:
    """One-cycle learning rate (warm up over the first 30% of the steps, cosine down to lr/1000)
    over a planned number of steps that can shrink after the first epoch, when the time budget
    shows fewer epochs fit: the rate then still anneals before training stops."""

    def __init__(self, total_steps: int) -> None:
        self.total = max(total_steps, 1)

    def __call__(self, step: int) -> float:
        warm = max(int(0.3 * self.total), 1)
        if step < warm:
            return 0.04 + 0.96 * (1 - math.cos(math.pi * step / warm)) / 2
        t = min((step - warm) / max(self.total - warm, 1), 1.0)
        return 1e-3 + (1 - 1e-3) * (1 + math.cos(math.pi * t)) / 2


def _epoch_order(cfg: TrainConfig, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if cfg.imbalance != "sampler":
        return rng.permutation(len(y))
    # balanced sampler: every present class drawn equally often, epoch the size of the set
    counts = np.bincount(y, minlength=len(cfg.classes)).astype(np.float64)
    p = 1.0 / counts[y]
    return rng.choice(len(y), size=len(y), replace=True, p=p / p.sum())


@dataclass
class FitResult:
    model: WindowClassifier
    history: list[dict]
    best_epoch: int
    val_macro_f1: float
    seconds: float


def fit(X: np.ndarray, y: np.ndarray, val: list[tuple[np.ndarray, np.ndarray]], cfg: TrainConfig,
        mean: np.ndarray, scale: np.ndarray, progress: Progress = print, budget: "Budget | None" = None,
        masker: SensorMasker | None = None) -> FitResult:
    """Train on windows X (N, window, F) with labels y; after each epoch, predict the validation
    sample (validation_sample) of each validation series (features (T, F), labels (T,)) and keep
    the epoch with the best macro-F1 over the anomaly classes. Deterministic for a given seed
    (and, with a time budget, the number of epochs it allows).

    With a budget, no epoch starts that would not end before the budget's training deadline;
    after the first epoch the learning-rate schedule is shortened to the epochs that fit.
    With a masker, every batch loses sensors at random (SensorMasker)."""
    started = time.monotonic()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed + 1)
    counts = np.bincount(y, minlength=len(cfg.classes))
    model = WindowClassifier(X.shape[2], cfg)
    with torch.no_grad():
        model.normalize.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        model.normalize.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches_per_epoch = math.ceil(len(y) / cfg.batch_size)
    schedule = _Schedule(cfg.epochs * batches_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    loss_fn = _loss_fn(cfg, counts)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    # an exponential moving average of the weights (and BatchNorm statistics) is what gets
    # judged and kept: smoother from epoch to epoch than the raw weights at a high learning rate
    ema = None
    if cfg.ema_decay > 0:
        from torch.optim.swa_utils import AveragedModel

        def ema_step(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            # the decay warms up with the number of updates n (as TensorFlow's moving average
            # does), so a short run's average is not held back by the initial weights
            decay = min(cfg.ema_decay, (1.0 + float(n)) / (10.0 + float(n)))
            return averaged * decay + current * (1.0 - decay)

        ema = AveragedModel(model, avg_fn=ema_step, use_buffers=True)
    judged = model if ema is None else ema.module
    sampler = np.random.default_rng(cfg.seed + 2)
    samples = [validation_sample(labels, cfg.context_steps, cfg.validation_stride, sampler) for _, labels in val]
    truth = np.concatenate([labels[idx] for (_, labels), (idx, _) in zip(val, samples)])
    weight = np.concatenate([w for _, w in samples])
    planned = cfg.epochs
    history, best_state, best_f1, best_epoch, stale = [], None, -1.0, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        epoch_started = time.monotonic()
        model.train()
        order = torch.from_numpy(_epoch_order(cfg, y, rng))
        total_loss = 0.0
        for b in range(batches_per_epoch):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            optimizer.zero_grad(set_to_none=True)
            if masker is None:
                xb, yb = Xt[idx], yt[idx]
            else:
                xb, yb = (torch.from_numpy(a) for a in masker(X[idx.numpy()], y[idx.numpy()]))
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            total_loss += float(loss.detach())
        validation_started = time.monotonic()
        probs = np.concatenate([predict_proba(judged, features, cfg.window, steps=idx)
                                for (features, _), (idx, _) in zip(val, samples)])
        argmax_f1 = macro_f1(truth, probs.argmax(1), sample_weight=weight)
        # judged as it will be used: with per-class decision weights fitted to it (the argmax
        # alone swings from epoch to epoch with the balance between the classes)
        f1 = fitted_macro_f1(truth, probs, weight)[0] if cfg.calibrate_decision else argmax_f1
        now = time.monotonic()
        elapsed = now - started
        history.append({"epoch": epoch, "loss": total_loss / batches_per_epoch, "val_macro_f1": f1,
                        "val_macro_f1_argmax": argmax_f1, "seconds": round(elapsed, 1)})
        progress(f"epoch {epoch}/{planned}: loss {total_loss / batches_per_epoch:.4f}, "
                 f"validation macro-F1 {f1:.4f} (argmax {argmax_f1:.4f}) ({elapsed:.0f} s)")
        if f1 > best_f1:
            best_f1, best_epoch, stale = f1, epoch, 0
            best_state = {k: v.clone() for k, v in judged.state_dict().items()}
        else:
            stale += 1
            if stale >= cfg.patience:
                progress(f"stopping early: no better validation macro-F1 for {cfg.patience} epochs")
                break
        if budget is not None:
            if epoch == 1:   # a sequence model predicted every validation step, any other the sample
                inferred = sum(len(labels) for _, labels in val) if judged.sequence else len(truth)
                budget.measured(inferred / max(now - validation_started, 1e-6))
            fits = epoch + budget.epochs_left(now, now - epoch_started)
            if fits <= epoch and epoch < planned:
                progress(f"stopping: {budget.describe()}")
                break
            if fits < planned:
                planned = fits
                schedule.total = planned * batches_per_epoch
                progress(f"{budget.describe()}: {planned} epochs fit, the learning rate anneals over them")
        if epoch >= planned:
            break
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(model, history, best_epoch, best_f1, time.monotonic() - started)


@dataclass
class Budget:
    """The time budget of a whole `homewatch train`: training must leave room for what comes
    after it (ONNX export and checks, int8 calibration, scoring the validation households with
    each candidate file, fitting the decision weights, the test evaluation and the Isolation
    Forest baseline). That work is inference over about `after_windows` windows, estimated from
    the speed the model showed on its first validation pass, reading households from the
    warehouse again (`read_seconds`, from the time reading the validation households took),
    and a fixed allowance."""
    started: float                 # time.monotonic() when the run began
    seconds: float                 # the whole run's budget
    after_windows: int             # windows inferred after training (all validation and test steps, some twice)
    fixed_after: float = 45.0      # seconds after training that do not scale with the data
    read_seconds: float = 0.0      # seconds of warehouse reads after training
    windows_per_s: float = 0.0

    def measured(self, windows_per_s: float) -> None:
        self.windows_per_s = windows_per_s

    def after_seconds(self) -> float:
        speed = self.windows_per_s or 20_000.0
        return self.fixed_after + self.read_seconds + self.after_windows / speed

    def epochs_left(self, now: float, epoch_seconds: float) -> int:
        left = self.started + self.seconds - self.after_seconds() - now
        return max(int(left // max(epoch_seconds, 1e-6)), 0)

    def describe(self) -> str:
        return (f"the {self.seconds / 60:g}-minute budget keeps {self.after_seconds():.0f} s "
                f"for export and evaluation")


def train(con: duckdb.DuckDBPyConnection, cfg: TrainConfig, progress: Progress = print,
          started: float | None = None) -> TrainResult:
    """Read the train and validation households from the warehouse and fit, within the
    cfg.max_minutes budget of a run that began at `started` (time.monotonic(); default now)."""
    started = time.monotonic() if started is None else started
    columns = data.feature_columns(con)
    splits = data.household_splits(con)
    labelled = data.labelled_households(con)
    train_ids = sorted(h for h, s in splits.items() if s == "train" and h in labelled)
    val_ids = sorted(h for h, s in splits.items() if s == "validation" and h in labelled)
    if not train_ids or not val_ids:
        raise data.DataError(f"training needs labelled households in both the train and validation splits "
                             f"(found {len(train_ids)} and {len(val_ids)}); simulate more households")
    progress(f"training households: {len(train_ids)}, validation: {len(val_ids)}; reading windows")
    X, y, stats = build_training_set(con, train_ids, columns, cfg, progress)
    reading = time.monotonic()
    val = [s for s in data.iter_households(con, val_ids, columns) if s.labels is not None]
    read_validation = time.monotonic() - reading
    if not val:
        raise data.DataError("the validation households have no feature rows with ground truth: run `homewatch build`")
    step = data.step_minutes(val[0].steps)
    counts = np.bincount(y, minlength=len(cfg.classes))
    progress(f"{len(y):,} training windows ({X.nbytes / 2**20:.0f} MB), per class {counts.tolist()}")
    n_test = sum(1 for h, s in splits.items() if s == "test" and h in labelled)
    val_steps = sum(len(s.steps) for s in val)
    # after training: the validation households scored twice (fp32, int8), the test ones once;
    # read again for calibration and each scoring, and the train households for the Isolation Forest
    budget = Budget(started, cfg.max_minutes * 60, int(val_steps * (2 + n_test / len(val))),
                    read_seconds=read_validation * (3 + (n_test + len(train_ids)) / len(val)))
    masker = SensorMasker(columns, cfg.sensor_mask_share, cfg.sensor_mask_drop, np.random.default_rng(cfg.seed + 3))
    fitted = fit(X, y, [(s.X, s.labels) for s in val], cfg, np.array(stats["mean"]), np.array(stats["scale"]),
                 progress, budget, masker)
    reference = ood.reference(stats["ood_rows"], columns, step * 60)
    shares = [float(ood.flags(ood.scores(s.X, columns, reference), reference).mean()) for s in val]
    reference["validation_flagged_share"] = round(float(np.mean(shares)), 4)
    return TrainResult(fitted.model, columns, step, fitted.history, fitted.best_epoch, fitted.val_macro_f1,
                       len(y), counts.tolist(), time.monotonic() - started, train_ids, val_ids,
                       (stats["first_step"], stats["last_step"]), reference)
