"""Evaluation on held-out households: the classifier, the dbt rules and an unsupervised
baseline, side by side, on the same steps, with the same definitions (models_ml.metrics).

- classifier: the ONNX model the scorer runs (argmax of its probabilities per step), with the
  anomalies shorter than classified_min_minutes, and those without their class's physical
  evidence (needed_evidence: metrics.humidity_evidence, metrics.heating_evidence, ...), dropped, as
  marts.fct_classified_anomalies does;
- rules: `rule_class` of marts.fct_ml_features, the dbt domain rules' class per step;
- isolation_forest: scikit-learn's IsolationForest on the same feature rows (the window's
  last step), fitted on a sample of the train households; it says "anomaly", not which one,
  so it gets detection figures only. Its threshold flags the share of steps that are
  anomalous in the train households (it is told how many anomalies to expect, not where).
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from models_ml import data
from models_ml.export import series_logits
from models_ml.metrics import (ANOMALY_CLASSES, Scorecard, decide, door_evidence, drop_blips,
                              fridge_evidence, heating_evidence, humidity_evidence)
from warehouse.project_vars import dbt_var

IFOREST_SAMPLE = 200_000     # feature rows the Isolation Forest is fitted on
IFOREST_TREES = 100
PR_SAMPLE = 400_000          # steps kept (all anomalies, a random share of normals) for PR curves


def min_steps(step_minutes: int) -> dict[int, int]:
    """Per class, the fewest predicted steps an anomaly needs (dbt var classified_min_minutes)."""
    return {int(c): max(-(-int(m) // step_minutes), 1) for c, m in dbt_var("classified_min_minutes").items()}


@dataclass
class Evaluation:
    split: str
    households: list[str]
    summaries: dict            # method -> Scorecard.summary()
    pr_curves: dict            # class -> (precision array, recall array, average precision)


def predict_onnx(sess, X: np.ndarray, window: int, columns: list[str] | None = None) -> np.ndarray:
    """Class probabilities at every step of one household's (T, F) features (the scorer's way:
    a sequence model reads the series once, see models_ml.export.series_logits; classes gated
    by the home's sensors when the feature columns are given)."""
    logits = series_logits(sess, X, window, columns=columns)
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def needed_evidence(con: duckdb.DuckDBPyConnection, series: data.HouseholdSeries) -> dict[int, np.ndarray] | None:
    """Per class, the physical evidence one of an anomaly's steps must show before it is raised
    (var classifier_needs_evidence), as marts.fct_classified_anomalies requires it: a humidity
    anomaly the humidity high for longer than a shower (metrics.humidity_evidence), a heating
    failure the room falling fast from its level or far under the day before's, or still far
    below its level since such a fall
    (metrics.heating_evidence), a fridge failure the fridge off for longer than a defrost
    (metrics.fridge_evidence), a door at night the door opening in an hour the household
    usually sleeps, into a home that was not empty before (metrics.door_evidence). None
    when the var is off."""
    if not dbt_var("classifier_needs_evidence"):
        return None
    levels = data.rule_levels(con, series.household_id, series.steps,
                              ("temperature", "temperature_expected", "door", "motion", "motion_expected_mean",
                               "fridge_off_minutes", "humidity_high_minutes", "humidity_long_minutes"))
    evidence = {2: humidity_evidence(levels["humidity_high_minutes"], levels["humidity_long_minutes"])}
    evidence[1] = heating_evidence(series.steps, levels["temperature"], levels["temperature_expected"],
                                   float(dbt_var("heating_fall_c")), int(dbt_var("heating_fall_minutes")),
                                   float(dbt_var("heating_below_c")), float(dbt_var("heating_day_drop_c")),
                                   float(dbt_var("heating_cold_c")))
    evidence[3] = fridge_evidence(levels["fridge_off_minutes"], float(dbt_var("fridge_max_off_minutes")))
    evidence[4] = door_evidence(series.steps, levels["door"], levels["motion"], levels["motion_expected_mean"],
                                float(dbt_var("door_awake_motion_rate")), int(dbt_var("door_empty_minutes")),
                                float(dbt_var("door_empty_share")), float(dbt_var("door_empty_motion_rate")))
    return evidence


def fit_isolation_forest(con: duckdb.DuckDBPyConnection, columns: list[str], train_ids: list[str], seed: int):
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(seed)
    rows, anomalous, total = [], 0, 0
    per_household = max(IFOREST_SAMPLE // max(len(train_ids), 1), 1)
    for series in data.iter_households(con, train_ids, columns):
        take = rng.choice(len(series.X), size=min(per_household, len(series.X)), replace=False)
        rows.append(series.X[take])
        if series.labels is not None:
            anomalous += int((series.labels != 0).sum())
            total += len(series.labels)
    forest = IsolationForest(n_estimators=IFOREST_TREES, random_state=seed, n_jobs=1)
    forest.fit(np.concatenate(rows))
    share = anomalous / total if total else 0.01
    sample = np.concatenate(rows)
    threshold = np.quantile(forest.score_samples(sample), share)
    return forest, float(threshold)


def evaluate(con: duckdb.DuckDBPyConnection, sess, meta: dict, split: str = "test",
             progress=print, with_baselines: bool = True) -> Evaluation:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    columns, window = meta["feature_columns"], int(meta["window"])
    step_minutes = int(meta["step_minutes"])
    bridge = max(int(dbt_var("event_bridge_minutes")) // step_minutes, 1)
    splits = data.household_splits(con)
    labelled = data.labelled_households(con)
    ids = sorted(h for h, s in splits.items() if s == split and h in labelled)
    if not ids:
        raise data.DataError(f"no labelled household in the {split!r} split: evaluation needs simulated data")
    shortest = min_steps(step_minutes)
    cards = {"classifier": Scorecard("classifier", bridge, step_minutes),
             "rules": Scorecard("rules", bridge, step_minutes)}
    forest = None
    if with_baselines:
        train_ids = sorted(h for h, s in splits.items() if s == "train" and h in labelled)
        progress(f"fitting the Isolation Forest baseline on {len(train_ids)} train households")
        forest, threshold = fit_isolation_forest(con, columns, train_ids, seed=int(meta["config"]["seed"]))
        cards["isolation_forest"] = Scorecard("isolation_forest", bridge, step_minutes, class_agnostic=True)
    events = data.injected_events(con, ids)
    rng = np.random.default_rng(0)
    pr_truth, pr_probs, pr_weight = [], [], []
    for i, series in enumerate(data.iter_households(con, ids, columns)):
        own = [e for e in events if e[0] == series.household_id]
        probs = predict_onnx(sess, series.X, window, meta["feature_columns"])
        # what people see: the anomalies of marts.fct_classified_anomalies (blips dropped)
        decided = decide(probs, meta.get("decision_weights"))
        evidence = needed_evidence(con, series)
        cards["classifier"].add(series.steps, series.labels, drop_blips(decided, bridge, shortest, evidence), own)
        cards["rules"].add(series.steps, series.labels, series.rule_class, own)
        if forest is not None:
            flagged = (forest.score_samples(series.X) < threshold).astype(np.int64)
            cards["isolation_forest"].add(series.steps, series.labels, flagged, own)
        # every anomalous step and a share of the normal ones, weighted back to their number
        share = min(1.0, PR_SAMPLE / (len(ids) * len(series.labels)))
        keep = (series.labels != 0) | (rng.random(len(series.labels)) < share)
        pr_truth.append(series.labels[keep])
        pr_probs.append(probs[keep])
        pr_weight.append(np.where(series.labels[keep] != 0, 1.0, 1.0 / share))
        progress(f"evaluated {i + 1}/{len(ids)} {split} households")
    truth, probs, weight = np.concatenate(pr_truth), np.concatenate(pr_probs), np.concatenate(pr_weight)
    curves = {}
    for c in ANOMALY_CLASSES:
        positive = truth == c
        if positive.any():
            precision, recall, _ = precision_recall_curve(positive, probs[:, c], sample_weight=weight)
            curves[c] = (precision, recall,
                         float(average_precision_score(positive, probs[:, c], sample_weight=weight)))
    return Evaluation(split, ids, {name: card.summary() for name, card in cards.items()}, curves)


def pr_curve_points(ev: Evaluation, points: int = 60) -> dict[str, dict]:
    """The classifier's PR curves thinned to about `points` points each, for JSON metadata
    (the anomaly report draws them from there). Points are spread evenly along the curve's
    length, not its thresholds: for a rare class nearly all thresholds sit at low precision,
    and the bend towards high precision would fall between two kept points."""
    out = {}
    for c, (precision, recall, ap) in sorted(ev.pr_curves.items()):
        precision, recall = np.asarray(precision, dtype=float), np.asarray(recall, dtype=float)
        length = np.r_[0.0, np.cumsum(np.hypot(np.diff(precision), np.diff(recall)))]
        marks = np.linspace(0.0, length[-1], min(points, len(precision)))
        keep = np.unique(np.r_[0, np.searchsorted(length, marks).clip(0, len(precision) - 1), len(precision) - 1])
        out[str(c)] = {"precision": [round(float(v), 4) for v in np.asarray(precision)[keep]],
                       "recall": [round(float(v), 4) for v in np.asarray(recall)[keep]], "ap": float(ap)}
    return out


def metric_rows(ev: Evaluation) -> list[tuple]:
    """Long-format rows (split, method, level, class, metric, value, support) for ml.evaluation_metrics."""
    rows = []
    for method, s in ev.summaries.items():
        for c, stats in s["per_class"].items():
            for metric in ("precision", "recall", "f1"):
                rows.append((ev.split, method, "step", int(c), metric, stats[metric], stats["support"]))
        rows.append((ev.split, method, "step", None, "macro_f1", s["macro_f1"], None))
        for metric in ("detection_precision", "detection_recall", "detection_f1"):
            rows.append((ev.split, method, "step", None, metric, s[metric], None))
        for c, value in s["event_recall_per_class"].items():
            rows.append((ev.split, method, "event", int(c), "recall", value, None))
        rows.append((ev.split, method, "event", None, "recall", s["event_recall"], s["events_total"]))
        rows.append((ev.split, method, "event", None, "masked_events", s.get("events_masked", 0), None))
        for c, value in s["median_delay_minutes"].items():
            rows.append((ev.split, method, "event", int(c), "median_delay_minutes", value, None))
        rows.append((ev.split, method, "event", None, "false_alarms_per_household_week",
                     s["false_alarms_per_household_week"], s["false_alarm_events"]))
        for kind, share in s["hard_negative_flagged"].items():
            rows.append((ev.split, method, "hard_negative", None, f"flagged_share:{kind}", share, None))
    for c, (_, _, ap) in ev.pr_curves.items():
        rows.append((ev.split, "classifier", "step", int(c), "average_precision", ap, None))
    return [tuple(None if isinstance(v, float) and v != v else v for v in r) for r in rows]
