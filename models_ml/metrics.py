"""Measuring a detector against the simulator's ground truth, the same way for every method.

A method (the classifier, the dbt rules, an unsupervised baseline) gives a class per step;
`Scorecard.add` takes one household at a time, so nothing holds the whole test set. Figures:
- step level (no point-adjust): precision, recall, F1 per class 1-5 and their macro mean, and
  the confusion matrix over classes 0-5;
- event level: predicted steps become events (runs of one class, gaps shorter than
  `bridge_steps` bridged, as the dbt events are); a ground-truth anomaly is found when an event
  of its class overlaps it; detection delay is from its start to the first such event's start;
  a false alarm is an event that overlaps no ground-truth anomaly of its class. An anomaly
  whose every step carries another class (one of higher priority overlapping it whole: a
  steam burst during a fridge failure) has no step a one-class-per-step method could name it
  at; it is left out of event recall and counted as masked;
- hard negatives: the share of each kind of normal-but-unusual event (a late shower, a
  defrost) during which the method raised any anomaly class with no real anomaly present.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from warehouse.taxonomy import ANOMALY_CLASS_IDS as ANOMALY_CLASSES, N_CLASSES  # 1 ... 5, and 6 with normal


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES,
              sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Counts (or summed sample weights) of (true, predicted) pairs; rows are the truth."""
    return np.bincount(y_true * n_classes + y_pred, weights=sample_weight,
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class(cm: np.ndarray) -> dict[int, dict[str, float]]:
    """precision, recall, f1 and support per class from a confusion matrix (rows = truth)."""
    out = {}
    for c in range(cm.shape[0]):
        tp, predicted, actual = cm[c, c], cm[:, c].sum(), cm[c, :].sum()
        out[c] = {
            "precision": float(tp / predicted) if predicted else float("nan"),
            "recall": float(tp / actual) if actual else float("nan"),
            "f1": float(2 * tp / (predicted + actual)) if predicted + actual else float("nan"),
            "support": int(actual),
        }
    return out


def macro_f1_of(cm: np.ndarray, classes=ANOMALY_CLASSES) -> float:
    """Mean F1 over the anomaly classes present in the truth or the predictions (a class
    predicted but absent counts, with F1 0; one absent from both is left out)."""
    stats = per_class(cm)
    values = [stats[c]["f1"] for c in classes if stats[c]["f1"] == stats[c]["f1"]]
    return float(np.mean(values)) if values else float("nan")


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes=ANOMALY_CLASSES,
             sample_weight: np.ndarray | None = None) -> float:
    value = macro_f1_of(confusion(y_true, y_pred, sample_weight=sample_weight), classes)
    return 0.0 if value != value else value


def runs(pred: np.ndarray, bridge_steps: int) -> list[tuple[int, int, int]]:
    """Events from a class per step: (first index, last index + 1, class) for runs of one
    anomaly class, runs of the same class fewer than bridge_steps apart merged."""
    events: list[list[int]] = []
    idx = np.flatnonzero(pred != 0)
    if len(idx) == 0:
        return []
    # boundaries where the class changes or steps are not adjacent
    cls = pred[idx]
    breaks = np.flatnonzero((np.diff(idx) != 1) | (np.diff(cls) != 0)) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(idx)]])
    last_of_class: dict[int, int] = {}
    for s, e in zip(starts, ends):
        c, first, last = int(cls[s]), int(idx[s]), int(idx[e - 1]) + 1
        j = last_of_class.get(c)
        if j is not None and first - events[j][1] < bridge_steps:
            events[j][1] = last
        else:
            last_of_class[c] = len(events)
            events.append([first, last, c])
    return [tuple(e) for e in events]


def drop_blips(pred: np.ndarray, bridge_steps: int, min_steps: dict[int, int],
               evidence: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Predictions with the events of too few steps set back to normal: an event (a run of one
    class, short gaps bridged, as `runs`) is kept only if it has at least min_steps[class]
    predicted steps, and, for a class in `evidence` (class -> a bool per step), only if one of
    its predicted steps shows that evidence (humidity_evidence, ...). marts.fct_classified_anomalies
    applies the same rules in SQL."""
    out = pred.copy()
    if not any(v > 1 for v in min_steps.values()) and not evidence:
        return out
    for first, last, c in runs(pred, bridge_steps):
        span = slice(first, last)
        mine = pred[span] == c
        if int(mine.sum()) < min_steps.get(c, 1) or (evidence and c in evidence
                                                      and not evidence[c][span][mine].any()):
            out[span][mine] = 0
    return out


def humidity_evidence(high_minutes: np.ndarray, long_minutes: np.ndarray) -> np.ndarray:
    """Per step, whether a humidity anomaly shows its evidence there: the humidity has stayed at
    or above humidity_high_rh for longer than a shower, as the humidity rule judges it
    (int_household_rules_flagged's humidity_high_minutes at least its humidity_long_minutes:
    max_shower_minutes, or the household's own long showers where the bathroom's warming
    confirms one). A leak or steam that lasts gets there; a real bathroom drying slowly after a
    shower (60-74 %RH for hours) never reaches "high", and a 30-40 minute evening shower whose
    bathroom warmed too little to confirm it is over before it is longer than a shower: a model
    trained on simulated homes would otherwise call either a leak. NaN (no rules row): no
    evidence. marts.fct_classified_anomalies applies the same in SQL."""
    high = np.asarray(high_minutes, dtype=np.float64)
    long = np.asarray(long_minutes, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (high > 0) & (high >= long)


def heating_evidence(steps: np.ndarray, temperature: np.ndarray, expected: np.ndarray,
                     fall_c: float, fall_minutes: int, below_c: float, day_drop_c: float,
                     cold_c: float = float("inf")) -> np.ndarray:
    """Per step, whether the room shows a heating failure's evidence: a failed heating lets the
    room fall from the level it held into the cold, either fast (the step at least fall_c under
    the warmest of the last fall_minutes, and so more than below_c under its hour-of-day
    baseline: a room cooling back to its usual level after cooking, a fire or the afternoon sun
    is no failure) or, in a slow house, far below where it was at the same time the day before
    (at least day_drop_c colder than 24 hours earlier); and the failure lasts while
    the room stays more than below_c under its hour-of-day baseline (so a failure's later hours
    keep the fall that began them). A house whose heating is off for the season floats with the
    weather: its nightly cooling is slow (under 1 degC an hour in the simulator), each morning
    about as cool as the one before, and its afternoons come back near the heated level; its
    cool mornings show neither. A step of a home without a baseline yet (expected null) is
    judged as the heating rule judges a home's first days: a fast fall, or the room under
    cold_c (var heating_cold_c; the default, infinity, takes every such step as evidence).
    steps: datetime64, ascending; temperature and expected: float, NaN where null.
    marts.fct_classified_anomalies computes the same per step in SQL."""
    temperature = np.asarray(temperature, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    n = len(steps)
    if n == 0:
        return np.zeros(0, dtype=bool)
    # the warmest reading of the last fall_minutes, both ends included (SQL: range between
    # interval fall_minutes preceding and current row), missing readings ignored
    import pandas as pd

    warmest = (pd.Series(temperature, index=pd.DatetimeIndex(steps))
               .rolling(f"{int(fall_minutes)}min", closed="both", min_periods=1).max().to_numpy())
    # the same time the day before (NaN where that step is not on the grid)
    day_before = np.full(n, np.nan)
    at = np.searchsorted(steps, steps - np.timedelta64(24, "h"))
    found = steps[np.minimum(at, n - 1)] == steps - np.timedelta64(24, "h")
    day_before[found] = temperature[at[found]]
    with np.errstate(invalid="ignore"):
        below = temperature - expected < -below_c           # NaN (either missing) -> not below
        unknown = np.isnan(expected)
        fall = (((warmest - temperature >= fall_c) & (below | unknown)) | (day_before - temperature >= day_drop_c)
                | (unknown & (temperature < cold_c)))
    idx = np.arange(n)
    last_fall = np.maximum.accumulate(np.where(fall, idx, -1))
    last_not_below = np.maximum.accumulate(np.where(~below, idx, -1))
    return fall | (last_fall > last_not_below)


def fridge_evidence(fridge_off_minutes: np.ndarray, max_off_minutes: float) -> np.ndarray:
    """Per step, whether a fridge failure shows its evidence there: the fridge has drawn under
    fridge_low_w for at least max_off_minutes (the fridge rule's fridge_max_off_minutes, longer
    than a normal defrost's 20-45 min; int_household_rules_flagged's fridge_off_minutes, which a
    missing reading resets). A defrost, a short dip or a meter that stopped reporting is no
    failed fridge. NaN (no rules row): no evidence. marts.fct_classified_anomalies applies the
    same in SQL."""
    off = np.asarray(fridge_off_minutes, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return off >= max_off_minutes


def door_evidence(steps: np.ndarray, door: np.ndarray, motion: np.ndarray, motion_expected: np.ndarray,
                  awake_rate: float, empty_minutes: int, empty_share: float, empty_rate: float) -> np.ndarray:
    """Per step, whether a door opening there shows a door at night's evidence: the door is open
    at the step; the household is usually asleep at that hour (its hour-of-day expected motion is
    under awake_rate; a household up at that hour on most days is leaving early or coming back,
    not woken by its front door); and the home was not empty before it: over the last
    empty_minutes (the step itself left out) the motion sensor saw more than empty_share of the
    motion the household's baseline expects there, or the baseline expects little (under
    empty_rate a step: the household normally sleeps through those hours too, and a sleeping
    home is as quiet as an empty one). A home whose motion sensor saw next to no one through
    evening hours it is normally up in was out; a door then is the household coming home.
    The window's means are over its steps with both a motion reading and its baseline, and the
    home is judged empty only where those are at least half the window's steps: a home without
    a baseline yet, or a motion sensor that was not reading, cannot be judged on that point and
    keeps its evidence.
    steps: datetime64, ascending; door, motion, motion_expected: float, NaN where null.
    marts.fct_classified_anomalies computes the same in SQL (door_steps)."""
    door = np.asarray(door, dtype=np.float64)
    motion = np.asarray(motion, dtype=np.float64)
    motion_expected = np.asarray(motion_expected, dtype=np.float64)
    if len(steps) == 0:
        return np.zeros(0, dtype=bool)
    import pandas as pd

    index = pd.DatetimeIndex(steps)
    window = f"{int(empty_minutes)}min"
    # means over the steps of [step - empty_minutes, step) with both a motion reading and its
    # baseline (SQL: avg over those steps of that interval)
    both = ~np.isnan(motion) & ~np.isnan(motion_expected)
    seen = (pd.Series(np.where(both, motion, np.nan), index=index)
            .rolling(window, closed="left", min_periods=1).mean().to_numpy())
    expected = (pd.Series(np.where(both, motion_expected, np.nan), index=index)
                .rolling(window, closed="left", min_periods=1).mean().to_numpy())
    # ...judged only where those steps are at least half the window's
    rows = pd.Series(np.ones(len(steps)), index=index).rolling(window, closed="left", min_periods=1)
    covered = rows.sum().to_numpy() <= 2 * pd.Series(both.astype(float), index=index).rolling(
        window, closed="left", min_periods=1).sum().to_numpy()
    with np.errstate(invalid="ignore"):
        asleep_hour = ~(motion_expected >= awake_rate)                    # NaN: no baseline, kept
        empty = covered & (expected >= empty_rate) & (seen <= empty_share * expected)  # NaN: not empty
    return (door == 1.0) & asleep_hour & ~empty


def decide(probs: np.ndarray, weights=None) -> np.ndarray:
    """The class of each step: the argmax of the probabilities times per-class decision
    weights (None: the plain argmax). The scorer, the evaluation and the promotion all use it."""
    if weights is None:
        return probs.argmax(axis=1)
    return (probs * np.asarray(weights, dtype=probs.dtype)).argmax(axis=1)


DECISION_GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 3.0)
# The decision that scoring runs only ever asks for more evidence (weights up to 1): balanced
# training over-predicts the rare classes, and a weight above 1 buys step recall with extra
# events that macro-F1 does not count (on the validation households of seed 42 trained with seed 1,
# weights up to 3 took false alarms from 0.14 to 0.20 a household-week for 0.0007 of macro-F1;
# bench/RESULTS.md).
SCORING_GRID = tuple(g for g in DECISION_GRID if g <= 1.0)


def _coordinate_ascent(objective, grid, rounds: int) -> tuple[list[float], float]:
    """Per-class weights (normal's fixed at 1) from `grid` maximising objective(log weights)."""
    log_w = np.zeros(N_CLASSES)
    best = objective(log_w)
    for _ in range(rounds):
        improved = False
        for c in range(1, N_CLASSES):
            for g in np.log(grid):
                trial = log_w.copy()
                trial[c] = g
                value = objective(trial)
                if value > best + 1e-4:
                    best, log_w, improved = value, trial, True
        if not improved:
            break
    return [round(float(w), 4) for w in np.exp(log_w)], best


def fit_decision_weights(households: list[tuple[np.ndarray, np.ndarray]], bridge_steps: int,
                         min_steps: dict[int, int], grid=SCORING_GRID, rounds: int = 2,
                         evidence: list[dict[int, np.ndarray] | None] | None = None) -> tuple[list[float], float]:
    """Per-class decision weights (normal's fixed at 1) that maximise the macro-F1 of what people
    see, drop_blips(decide(p, w), evidence), over (labels, probabilities) per household:
    coordinate ascent over `grid`, class by class, for up to `rounds` passes. Returns (weights,
    that macro-F1). `evidence`, one per household (evaluate.needed_evidence), is the physical
    evidence the mart asks of a class's event: fitted without it, the weights would pay in missed
    anomalies for false alarms the mart drops anyway.

    Training balances the classes, so the network over-predicts the rare ones; a weight below 1
    asks for more evidence before naming that class (a cost-sensitive decision)."""
    logs = [(y, np.log(np.maximum(p, 1e-9))) for y, p in households]
    needs = evidence if evidence is not None else [None] * len(logs)
    if len(needs) != len(logs):
        raise ValueError(f"evidence for {len(needs)} households, probabilities for {len(logs)}")
    truth = np.concatenate([y for y, _ in logs])

    def objective(log_w: np.ndarray) -> float:
        pred = np.concatenate([drop_blips((lp + log_w).argmax(axis=1), bridge_steps, min_steps, e)
                               for (_, lp), e in zip(logs, needs)])
        return macro_f1(truth, pred)

    return _coordinate_ascent(objective, grid, rounds)


def fitted_macro_f1(y: np.ndarray, probs: np.ndarray, sample_weight: np.ndarray | None = None,
                      grid=DECISION_GRID, rounds: int = 2) -> tuple[float, list[float]]:
    """Macro-F1 of the best per-class decision weights for these steps (no blips dropped):
    what a model's probabilities are worth once the decision is fitted, as training's epoch
    choice needs. The argmax alone swings from epoch to epoch with the balance between the
    classes, which the fitted weights take out. Returns (macro-F1, weights)."""
    logp = np.log(np.maximum(probs, 1e-9))

    def objective(log_w: np.ndarray) -> float:
        return macro_f1(y, (logp + log_w).argmax(axis=1), sample_weight=sample_weight)

    weights, best = _coordinate_ascent(objective, grid, rounds)
    return best, weights


@dataclass
class Scorecard:
    """Accumulates one method's figures over households."""
    name: str
    bridge_steps: int
    step_minutes: int
    class_agnostic: bool = False     # a detector that says "anomaly" but not which (predicts 0/1)
    cm: np.ndarray = field(default_factory=lambda: np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64))
    events_found: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))   # class -> [found, total]
    delays: dict = field(default_factory=lambda: defaultdict(list))                      # class -> minutes
    false_alarms: int = 0
    masked_events: int = 0       # anomalies overlapped whole by one of higher priority (no step of their class)
    predicted_events: int = 0
    steps: int = 0
    hard_negatives: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # type -> [flagged, total]
    detection: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))  # any-anomaly tp, predicted, actual

    def add(self, steps: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, events: list[tuple]) -> None:
        """One household: its steps (datetime64), truth and prediction per step, and its
        ground-truth events (household_id, kind, anomaly_class, event_type, start_at, end_at)."""
        if not self.class_agnostic:
            self.cm += confusion(y_true, y_pred)
        self.detection += [int(((y_true != 0) & (y_pred != 0)).sum()), int((y_pred != 0).sum()), int((y_true != 0).sum())]
        self.steps += len(steps)
        if not len(steps):
            return
        last_step = steps[-1]
        predicted = runs(y_pred, self.bridge_steps)
        self.predicted_events += len(predicted)
        truth = [(int(c), np.datetime64(s, "us"), np.datetime64(e, "us"), kind, etype)
                 for _, kind, c, etype, s, e in events]
        anomalies = [t for t in truth if t[3] == "anomaly"]
        step_us = np.timedelta64(self.step_minutes, "m")
        for first, last, c in predicted:
            p_start, p_end = steps[first], steps[last - 1] + step_us
            if not any((tc == c or self.class_agnostic) and ts < p_end and p_start < te for tc, ts, te, _, _ in anomalies):
                self.false_alarms += 1
        for c, ts, te, _, _ in anomalies:
            if te > last_step + step_us:     # not over yet: cannot be judged
                continue
            lo, hi = np.searchsorted(steps, [ts, te])
            if hi > lo and not np.any(y_true[lo:hi] == c):
                self.masked_events += 1
                continue
            self.events_found[c][1] += 1
            hits = [steps[first] for first, last, pc in predicted
                    if (pc == c or self.class_agnostic) and steps[first] < te and ts < steps[last - 1] + step_us]
            if hits:
                self.events_found[c][0] += 1
                delay = (min(hits) - ts) / np.timedelta64(1, "m")
                self.delays[c].append(max(float(delay), 0.0))
        anomalous = y_pred != 0
        for c, ts, te, kind, etype in truth:
            if kind != "normal" or te > last_step + step_us:
                continue
            inside = (steps >= ts) & (steps < te)
            self.hard_negatives[etype][1] += 1
            if np.any(inside & anomalous & (y_true == 0)):
                self.hard_negatives[etype][0] += 1

    def summary(self) -> dict:
        stats = per_class(self.cm)
        household_weeks = self.steps * self.step_minutes / (7 * 24 * 60)
        found = sum(v[0] for v in self.events_found.values())
        total = sum(v[1] for v in self.events_found.values())
        tp, predicted, actual = (int(v) for v in self.detection)
        return {
            "method": self.name,
            "per_class": {} if self.class_agnostic else {c: stats[c] for c in range(N_CLASSES)},
            "macro_f1": float("nan") if self.class_agnostic else macro_f1_of(self.cm),
            "detection_precision": tp / predicted if predicted else float("nan"),
            "detection_recall": tp / actual if actual else float("nan"),
            "detection_f1": 2 * tp / (predicted + actual) if predicted + actual else float("nan"),
            "event_recall": found / total if total else float("nan"),
            "event_recall_per_class": {c: (v[0] / v[1] if v[1] else float("nan")) for c, v in
                                       sorted(self.events_found.items())},
            "events_total": total,
            "events_masked": self.masked_events,
            "median_delay_minutes": {c: float(np.median(v)) for c, v in sorted(self.delays.items()) if v},
            "false_alarms_per_household_week": self.false_alarms / household_weeks if household_weeks else float("nan"),
            "false_alarm_events": self.false_alarms,
            "predicted_events": self.predicted_events,
            "household_weeks": household_weeks,
            "hard_negative_flagged": {k: v[0] / v[1] for k, v in sorted(self.hard_negatives.items()) if v[1]},
            "confusion": None if self.class_agnostic else self.cm.tolist(),
        }
