"""The classifier: windows, training on a separable toy case, ONNX parity, registry rules,
idempotent scoring with ONNX Runtime, clear errors for a missing or broken model."""
from __future__ import annotations


import duckdb
import numpy as np
import pytest

from models_ml import data
from models_ml.config import ConfigError, TrainConfig
from models_ml.metrics import Scorecard, macro_f1, runs

# --- windows --------------------------------------------------------------------------------


def test_a_window_ends_at_its_step_and_pads_the_start_with_the_first_row():
    X = np.arange(10, dtype=np.float32).reshape(5, 2)     # step t has features (2t, 2t+1)
    w = data.windows(X, 3)
    assert w.shape == (5, 3, 2)
    assert w[4].tolist() == [[4, 5], [6, 7], [8, 9]]       # the window of step 4 ends at step 4
    assert w[0].tolist() == [[0, 1], [0, 1], [0, 1]]       # no history: the first row repeated
    assert w[1].tolist() == [[0, 1], [0, 1], [2, 3]]


def test_windows_never_mix_households(built_db):
    con = duckdb.connect(str(built_db), read_only=True)
    cols = data.feature_columns(con)
    a, b = list(data.iter_households(con, ["H0001", "H0002"], cols))
    con.close()
    wb = data.windows(b.X, 12)
    # the first window of the second household holds only its own first row
    assert np.array_equal(wb[0], np.repeat(b.X[:1], 12, axis=0))
    assert not any(np.array_equal(wb[0][0], row) for row in a.X[-12:])
    assert len(a.labels) == len(a.steps) and a.labels.dtype == np.int64


def test_labels_align_with_the_window_s_last_step(built_db):
    con = duckdb.connect(str(built_db), read_only=True)
    cols = data.feature_columns(con)
    series = next(data.iter_households(con, ["H0001"], cols))
    truth = dict(con.execute("select step_at, label_class from marts.int_steps_labelled where household_id = 'H0001'").fetchall())
    con.close()
    anomalous = np.flatnonzero(series.labels != 0)
    assert len(anomalous) > 0
    for i in anomalous[:50]:
        assert truth[series.steps[i].item()] == series.labels[i]


def test_feature_columns_are_the_table_order_without_keys(built_db):
    con = duckdb.connect(str(built_db), read_only=True)
    cols = data.feature_columns(con)
    con.close()
    assert cols[:3] == ["hour_sin", "hour_cos", "is_weekend"]
    assert not {"household_id", "step_at", "rule_class"} & set(cols)


# --- config ---------------------------------------------------------------------------------


def test_an_unknown_training_option_is_an_error():
    with pytest.raises(ConfigError, match="unknown training option.*hiden"):
        TrainConfig.from_dict({"hiden": 64})
    with pytest.raises(ConfigError, match="arch must be one of"):
        TrainConfig(arch="gru")
    assert TrainConfig.from_dict({"hidden": "64", "lr": "0.01"}).hidden == 64


def test_a_causal_cnn_sees_its_window_and_no_further():
    from models_ml.config import causal_dilations

    assert causal_dilations(12, 3) == [1, 2, 2]          # receptive field 11 of 12 steps
    assert causal_dilations(6, 2) == [1, 1]
    assert causal_dilations(32, 3) == [1, 2, 4]
    with pytest.raises(ConfigError, match="6 convolution layers .* 12-step window; use at most 5 layers"):
        TrainConfig(arch="causal_cnn", window=12, layers=6)


# --- training on a toy case -------------------------------------------------------------------


def _toy(n_steps: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Class c lights up feature c over a run of steps; class 0 is noise."""
    X = rng.normal(0, 0.1, size=(n_steps, 8)).astype(np.float32)
    y = np.zeros(n_steps, dtype=np.int64)
    for start in range(20, n_steps - 20, 40):
        c = 1 + (start // 40) % 5
        X[start:start + 15, c] += 3.0
        y[start:start + 15] = c
    return X, y


@pytest.mark.parametrize("arch", ["causal_cnn", "cnn", "tcn"])
def test_training_learns_a_clearly_separable_toy_case(arch):
    from models_ml.train import fit

    rng = np.random.default_rng(0)
    X_train, y_train = _toy(4000, rng)
    X_val, y_val = _toy(2000, rng)
    cfg = TrainConfig(arch=arch, window=6, hidden=16, layers=2, epochs=6, batch_size=128, lr=5e-3, seed=1)
    result = fit(np.ascontiguousarray(data.windows(X_train, 6)), y_train, [(X_val, y_val)], cfg,
                 X_train.mean(0), X_train.std(0), progress=lambda m: None)
    assert result.val_macro_f1 >= 0.9
    again = fit(np.ascontiguousarray(data.windows(X_train, 6)), y_train, [(X_val, y_val)], cfg,
                X_train.mean(0), X_train.std(0), progress=lambda m: None)
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in result.history] == \
        [{k: v for k, v in h.items() if k != "seconds"} for h in again.history]   # deterministic for a seed


def test_the_time_budget_leaves_room_for_what_follows_training():
    from models_ml.train import Budget, fit

    budget = Budget(started=0.0, seconds=600.0, after_windows=1_000_000, fixed_after=45.0, read_seconds=20.0)
    budget.measured(10_000.0)                       # the first validation pass: 10k windows/s
    assert budget.after_seconds() == pytest.approx(165.0)
    assert budget.epochs_left(now=100.0, epoch_seconds=50.0) == 6       # (600 - 165 - 100) // 50
    assert budget.epochs_left(now=500.0, epoch_seconds=50.0) == 0

    # a budget already spent: one epoch, then training stops (and keeps that epoch)
    rng = np.random.default_rng(0)
    X_train, y_train = _toy(2000, rng)
    cfg = TrainConfig(window=6, hidden=8, layers=2, epochs=5, batch_size=128, seed=1)
    import time

    spent = Budget(started=time.monotonic() - 1000.0, seconds=1000.0, after_windows=0, fixed_after=0.0)
    messages = []
    result = fit(np.ascontiguousarray(data.windows(X_train, 6)), y_train, [(X_train, y_train)], cfg,
                 X_train.mean(0), X_train.std(0), progress=messages.append, budget=spent)
    assert len(result.history) == 1 and result.best_epoch == 1
    assert any("budget" in m for m in messages)


# --- ONNX -----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["causal_cnn", "cnn", "tcn", "lstm", "transformer"])
def test_onnx_runtime_matches_torch(arch, tmp_path):
    import torch

    from models_ml.export import export_onnx, max_abs_difference, session
    from models_ml.nets import WindowClassifier

    torch.manual_seed(0)
    cfg = TrainConfig(arch=arch, window=12, hidden=16, layers=2)
    model = WindowClassifier(9, cfg).eval()
    path = export_onnx(model, 12, 9, tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    for batch in (1, 37):                                  # the batch axis is dynamic
        windows = rng.normal(size=(batch, 12, 9)).astype(np.float32)
        assert max_abs_difference(model, path, windows) < 1e-4
    assert session(path).get_inputs()[0].shape[0] == "batch"


@pytest.mark.parametrize("arch", ["causal_cnn", "cnn"])
def test_a_series_scores_as_its_windows_do(arch, tmp_path, monkeypatch):
    """The scorer's path (export.series_logits): a sequence model reads a whole series at once,
    in overlapping segments, from any first step; the numbers are those of the windows."""
    import torch

    from models_ml import export
    from models_ml.nets import WindowClassifier
    from models_ml.train import predict_proba

    monkeypatch.setattr(export, "SEGMENT_STEPS", 64)           # several segments and run calls
    monkeypatch.setattr(export, "SEGMENTS_PER_RUN", 3)
    torch.manual_seed(0)
    cfg = TrainConfig(arch=arch, window=12, hidden=16, layers=3)
    model = WindowClassifier(9, cfg).eval()
    with torch.no_grad():                                     # BatchNorm statistics that are not 0 and 1
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
    path = export.export_onnx(model, 12, 9, tmp_path / "m.onnx")
    sess = export.session(path)
    assert export.takes_sequences(sess) == (arch == "causal_cnn")
    rng = np.random.default_rng(0)
    for n_steps, first in ((1000, 0), (1000, 100), (1000, 937), (1000, 999), (5, 0), (300, 250)):
        X = rng.normal(size=(n_steps, 9)).astype(np.float32)
        with torch.inference_mode():
            expected = model(torch.from_numpy(np.ascontiguousarray(data.windows(X, 12)))).numpy()
        got = export.series_logits(sess, X, 12, first=first)
        assert got.shape == (n_steps - first, 6)
        assert np.abs(got - expected[first:]).max() < 1e-4
        # torch, as training's validation runs it: the whole series, or some of its steps
        probs = torch.softmax(torch.from_numpy(expected), 1).numpy()
        assert np.abs(predict_proba(model, X, 12) - probs).max() < 1e-5
        some = np.sort(rng.choice(n_steps, min(n_steps, 40), replace=False))
        assert np.abs(predict_proba(model, X, 12, steps=some) - probs[some]).max() < 1e-5
    # a step's output depends on its window only: change a step, and only the window-many after it move
    X = rng.normal(size=(200, 9)).astype(np.float32)
    before = export.series_logits(sess, X, 12)
    X[100] += 5.0
    moved = np.flatnonzero(np.abs(export.series_logits(sess, X, 12) - before).max(1) > 1e-6)
    assert moved.min() == 100 and moved.max() <= 111


# --- metrics --------------------------------------------------------------------------------


def test_runs_bridge_short_gaps_of_one_class_only():
    pred = np.array([0, 1, 1, 0, 1, 0, 0, 0, 0, 2, 2, 0])
    assert runs(pred, bridge_steps=3) == [(1, 5, 1), (9, 11, 2)]
    assert runs(pred, bridge_steps=1) == [(1, 3, 1), (4, 5, 1), (9, 11, 2)]


def test_scorecard_counts_events_false_alarms_and_hard_negatives():
    steps = np.arange(np.datetime64("2025-01-01T00:00"), np.datetime64("2025-01-01T02:00"),
                      np.timedelta64(5, "m")).astype("datetime64[us]")
    truth = np.zeros(24, dtype=np.int64)
    truth[4:10] = 3
    pred = np.zeros(24, dtype=np.int64)
    pred[6:10] = 3          # found, 10 minutes late
    pred[15:17] = 1         # a false alarm, during a hard negative
    events = [("H", "anomaly", 3, "fridge_failure", steps[4].item(), steps[10].item()),
              ("H", "normal", 0, "late_shower", steps[14].item(), steps[18].item())]
    card = Scorecard("m", bridge_steps=2, step_minutes=5)
    card.add(steps, truth, pred, events)
    s = card.summary()
    assert s["event_recall"] == 1.0 and s["median_delay_minutes"][3] == 10.0
    assert s["false_alarm_events"] == 1
    assert s["hard_negative_flagged"] == {"late_shower": 1.0}
    assert s["per_class"][3]["precision"] == 1.0 and s["per_class"][3]["recall"] == pytest.approx(4 / 6)
    assert macro_f1(truth, pred) == pytest.approx(np.mean([0.0, 0.8]))


def test_an_anomaly_overlapped_whole_by_a_higher_priority_one_is_masked_not_missed():
    steps = np.arange(np.datetime64("2025-01-01T00:00"), np.datetime64("2025-01-01T02:00"),
                      np.timedelta64(5, "m")).astype("datetime64[us]")
    truth = np.zeros(24, dtype=np.int64)
    truth[4:16] = 3                  # a fridge failure; a steam burst (class 2) lies wholly inside it
    truth[18:22] = 1                 # a heating failure that shows (its own label)
    pred = truth.copy()
    pred[18:22] = 0                  # ... and is missed
    events = [("H", "anomaly", 3, "fridge_failure", steps[4].item(), steps[16].item()),
              ("H", "anomaly", 2, "humidity_steam", steps[6].item(), steps[10].item()),
              ("H", "anomaly", 1, "heating_failure", steps[18].item(), steps[22].item())]
    card = Scorecard("m", bridge_steps=2, step_minutes=5)
    card.add(steps, truth, pred, events)
    s = card.summary()
    assert s["events_masked"] == 1 and s["events_total"] == 2
    assert s["event_recall"] == 0.5 and s["event_recall_per_class"] == {1: 0.0, 3: 1.0}


def test_the_validation_sample_weights_back_to_every_step():
    from models_ml.train import validation_sample

    rng = np.random.default_rng(3)
    y = np.zeros(5000, dtype=np.int64)
    y[1000:1100] = 2
    y[3000:3050] = 4
    pred = y.copy()
    for start in (200, 500, 1700, 2300, 4100, 4500):  # false alarms far from the anomalies, in runs
        pred[start:start + int(rng.integers(20, 60))] = 2
    pred[1000:1010] = 0
    idx, weight = validation_sample(y, context_steps=24, stride=8, rng=np.random.default_rng(0))
    assert set(np.flatnonzero(y != 0)) <= set(idx)    # every anomalous step is judged
    assert len(idx) < len(y) / 4
    assert weight.sum() == pytest.approx(len(y), rel=0.05)
    assert macro_f1(y[idx], pred[idx], sample_weight=weight) == pytest.approx(macro_f1(y, pred), abs=0.02)


def test_blips_shorter_than_the_class_minimum_are_dropped():
    from models_ml.metrics import drop_blips

    pred = np.array([0, 1, 1, 0, 0, 0, 2, 2, 2, 2, 0, 4, 0, 1, 0, 1, 1])
    out = drop_blips(pred, bridge_steps=2, min_steps={1: 3, 2: 3, 4: 1})
    # the 2-step heating blip goes; the 4-step humidity run and the 1-step door stay; the last
    # two heating runs bridge into one event of 3 predicted steps and stay
    assert out.tolist() == [0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 4, 0, 1, 0, 1, 1]


def test_the_minimum_steps_of_a_class_cover_its_dbt_minimum_minutes(monkeypatch):
    import yaml

    from models_ml import evaluate
    from warehouse.connection import REPO_ROOT

    # from the dbt var the mart uses: whole steps covering at least the minutes, at least one step
    minutes = yaml.safe_load((REPO_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]["classified_min_minutes"]
    for step in (5, 7, 60):
        steps = evaluate.min_steps(step)
        assert set(steps) == {int(c) for c in minutes}
        for c, m in minutes.items():
            assert steps[int(c)] >= 1 and steps[int(c)] * step >= m and (steps[int(c)] - 1) * step < max(m, 1)
    monkeypatch.setattr(evaluate, "dbt_var", {"classified_min_minutes": {1: 30, 2: 31, 4: 0, 5: 61}}.get)
    assert evaluate.min_steps(5) == {1: 6, 2: 7, 4: 1, 5: 13}
    assert evaluate.min_steps(60) == {1: 1, 2: 1, 4: 1, 5: 2}


def test_decision_weights_ask_for_more_evidence_where_a_class_is_over_predicted():
    from models_ml.metrics import decide, fit_decision_weights

    y = np.zeros(400, dtype=np.int64)
    y[50:60] = 1                                  # one real heating failure
    p = np.tile(np.array([0.9, 0.02, 0.02, 0.02, 0.02, 0.02], dtype=np.float32), (400, 1))
    p[50:60] = [0.3, 0.7, 0.0, 0.0, 0.0, 0.0]     # confident on the real one
    p[200:215] = [0.45, 0.55, 0.0, 0.0, 0.0, 0.0]  # a cold evening it half believes
    assert macro_f1(y, decide(p)) < 0.6           # plain argmax raises a false alarm
    weights, f1 = fit_decision_weights([(y, p)], bridge_steps=1, min_steps={})
    assert f1 == 1.0 and weights[0] == 1.0 and weights[1] < 1.0
    assert (decide(p, weights) == y).all()
    assert (decide(p, None) == p.argmax(1)).all()


def test_decision_weights_are_fitted_to_what_the_mart_raises_after_its_evidence_check():
    """The door-at-night class's false alarms the mart drops for want of evidence (the door not
    opened in a sleep hour) must not cost the real ones the model is less sure of."""
    from models_ml.metrics import decide, drop_blips, fit_decision_weights

    y = np.zeros(400, dtype=np.int64)
    y[[50, 51, 150, 151]] = 4                     # two real doors at night
    p = np.tile(np.array([0.9, 0.02, 0.02, 0.02, 0.02, 0.02], dtype=np.float32), (400, 1))
    p[[50, 150]] = [0.15, 0.0, 0.0, 0.0, 0.85, 0.0]   # each one's first step: fairly sure
    p[[51, 151]] = [0.02, 0.0, 0.0, 0.0, 0.98, 0.0]   # its second: sure
    for s in range(200, 400, 25):                     # doors in the morning: the model is as sure
        p[s] = [0.05, 0.0, 0.0, 0.0, 0.95, 0.0]
    door = np.zeros(400, dtype=bool)
    door[[50, 51, 150, 151]] = True                   # only the night ones show the evidence
    evidence = {4: door}

    blind, _ = fit_decision_weights([(y, p)], bridge_steps=1, min_steps={})
    seen, f1 = fit_decision_weights([(y, p)], bridge_steps=1, min_steps={}, evidence=[evidence])
    # without the evidence the fit silences the class down to its surest steps, and the mart
    # then raises the real doors a step late; with it, the mart raises both steps and nothing else
    assert seen[4] > blind[4]
    raised = lambda w: drop_blips(decide(p, w), 1, {}, evidence)  # noqa: E731
    assert (raised(seen) == y).all() and f1 == 1.0
    assert (raised(blind)[[50, 150]] == 0).all()
    with pytest.raises(ValueError, match="evidence for 2 households"):
        fit_decision_weights([(y, p)], bridge_steps=1, min_steps={}, evidence=[evidence, evidence])


def test_the_scoring_decision_never_asks_for_less_evidence_than_the_network_gives():
    """A weight above 1 would name a class on steps the network thinks normal: step recall
    bought with events macro-F1 does not count. The fit stays at or under 1."""
    from models_ml.metrics import DECISION_GRID, fit_decision_weights

    y = np.zeros(400, dtype=np.int64)
    y[50:60] = 1
    p = np.tile(np.array([0.9, 0.02, 0.02, 0.02, 0.02, 0.02], dtype=np.float32), (400, 1))
    p[50:60] = [0.6, 0.4, 0.0, 0.0, 0.0, 0.0]      # a real failure the network under-rates
    weights, _ = fit_decision_weights([(y, p)], bridge_steps=1, min_steps={})
    assert max(weights) == 1.0
    unbounded, f1 = fit_decision_weights([(y, p)], bridge_steps=1, min_steps={}, grid=DECISION_GRID)
    assert unbounded[1] > 1.0 and f1 == 1.0       # what an unbounded grid would have chosen


def test_stored_pr_curves_keep_the_bend_of_a_rare_class():
    """A rare class: thousands of thresholds at low precision, the bend to high precision in a
    few. Thinning by threshold index would keep no point of the bend; by curve length it does."""
    from types import SimpleNamespace

    from models_ml.evaluate import pr_curve_points

    precision = np.r_[np.linspace(0.001, 0.05, 10_000), np.linspace(0.1, 1.0, 20)]
    recall = np.r_[np.ones(10_000), np.linspace(0.99, 0.0, 20)]
    out = pr_curve_points(SimpleNamespace(pr_curves={5: (precision, recall, 0.9)}), points=60)["5"]
    assert len(out["precision"]) <= 62
    assert (out["precision"][0], out["recall"][0]) == (0.001, 1.0) and (out["precision"][-1], out["recall"][-1]) == (1.0, 0.0)
    assert sum(0.3 < p < 0.9 for p in out["precision"]) >= 5


# --- absent sensors and out of distribution ------------------------------------------------

# the feature table's sensor columns, as fct_ml_features names them (a few per sensor)
SENSOR_FEATURES = ["hour_sin", "temperature_available", "humidity_available", "fridge_power_available",
                   "motion_available", "door_available", "fire_alarm_available", "temperature_z", "temperature_missing",
                   "temperature_no_baseline", "temperature_c_10", "humidity_z", "humidity_missing", "humidity_fraction",
                   "fridge_power_z", "fridge_power_missing", "fridge_power_log_w", "fridge_off_days", "motion",
                   "motion_missing", "door", "door_missing", "fire_alarm", "fire_alarm_missing",
                   "heating_failure_severity", "fridge_failure_severity", "door_at_night_severity", "fire_severity",
                   "generic_anomaly_score"]


def _present(X, columns, sensor):
    return X[:, -1, columns.index(f"{sensor}_available")] > 0.5


def test_sensor_masking_drops_whole_sensors_as_an_absent_sensor_reads_and_relabels_what_it_showed():
    from models_ml.sensors import SensorMasker

    cols = SENSOR_FEATURES
    rng = np.random.default_rng(0)
    n, window = 4000, 6
    X = rng.normal(size=(n, window, len(cols))).astype(np.float32) + 5     # no value reads like an absent one
    for s in ("temperature", "humidity", "fridge_power", "motion", "door", "fire_alarm"):
        X[:, :, cols.index(f"{s}_available")] = 1.0
    y = rng.integers(0, 6, n)
    masker = SensorMasker(cols, share=0.5, drop=0.5, rng=np.random.default_rng(1))
    Xm, ym = masker(X, y)
    assert np.array_equal(X[:, :, 0], Xm[:, :, 0]) and np.array_equal(X[:, :, -1], Xm[:, :, -1])  # no sensor's
    absent = {"temperature": ["temperature_z", "temperature_c_10", "heating_failure_severity"],
              "fridge_power": ["fridge_power_z", "fridge_power_log_w", "fridge_off_days", "fridge_failure_severity"],
              "door": ["door", "door_at_night_severity"], "fire_alarm": ["fire_alarm", "fire_severity"]}
    dropped_any = np.zeros(n, dtype=bool)
    for sensor in ("temperature", "humidity", "fridge_power", "motion", "door", "fire_alarm"):
        gone = ~_present(Xm, cols, sensor)
        dropped_any |= gone
        assert 0.15 < gone.mean() < 0.35, sensor       # about share x drop of the windows lose each sensor
        # the whole window reads as a home without it: availability 0, values 0, missing 1
        assert (Xm[gone][:, :, cols.index(f"{sensor}_available")] == 0).all()
        assert (Xm[gone][:, :, cols.index(f"{sensor}_missing")] == 1).all()
        for c in absent.get(sensor, []):
            assert (Xm[gone][:, :, cols.index(c)] == 0).all(), c
        assert np.array_equal(Xm[~gone][:, :, cols.index(f"{sensor}_missing")],
                              X[~gone][:, :, cols.index(f"{sensor}_missing")])
    assert 0.4 < dropped_any.mean() < 0.5                # a share of 0.5, minus the windows that drew no drop
    kept = np.stack([_present(Xm, cols, s) for s in ("temperature", "humidity", "fridge_power", "motion", "door",
                                                     "fire_alarm")], axis=1)
    assert kept.any(axis=1).all()                         # one sensor always stays
    # a window that lost its label's evidence is normal; every other keeps its label
    fridge_lost = (y == 3) & ~kept[:, 2]
    door_lost = (y == 4) & ~kept[:, 4]
    fire_lost = (y == 5) & ~kept[:, 5]
    heat_lost = (y == 1) & ~kept[:, 0]
    relabelled = fridge_lost | door_lost | fire_lost | heat_lost | ((y == 2) & ~kept[:, 1])
    assert fridge_lost.any() and door_lost.any() and fire_lost.any()
    assert (ym[relabelled] == 0).all() and np.array_equal(ym[~relabelled], y[~relabelled])
    # the input is left as it was
    assert (X[:, :, cols.index("door_available")] == 1).all()
    Xo, yo = SensorMasker(cols, share=0.0, drop=0.5, rng=np.random.default_rng(1))(X, y)
    assert Xo is X and yo is y


def test_a_class_without_its_evidence_sensor_gets_no_probability():
    from models_ml.sensors import gate_logits, step_allowed

    cols = SENSOR_FEATURES
    homes = {   # sensors -> classes it may be given
        ("temperature", "humidity"): {0, 1, 2},          # fire needs the alarm (warehouse/taxonomy.py)
        ("temperature",): {0, 1},
        ("fire_alarm",): {0, 5},
        ("fridge_power", "door", "motion"): {0, 3, 4},
    }
    for sensors, expected in homes.items():
        X = np.zeros((3, len(cols)), dtype=np.float32)
        for s in sensors:
            X[:, cols.index(f"{s}_available")] = 1.0
        logits = np.full((3, 6), 5.0, dtype=np.float32)
        gated = gate_logits(logits, step_allowed(X, cols))
        z = np.exp(gated - gated.max(1, keepdims=True))
        probs = z / z.sum(1, keepdims=True)
        assert {c for c in range(6) if (probs[:, c] > 0).all()} == expected, sensors
        assert {c for c in range(6) if (probs[:, c] == 0).all()} == set(range(6)) - expected, sensors
    assert step_allowed(np.zeros((2, 2), np.float32), ["hour_sin", "temperature_z"]) is None   # an older model


def test_a_home_unlike_training_is_out_of_distribution_and_a_short_anomaly_is_not():
    from models_ml import ood

    cols = ["hour_sin", "temperature_available", "temperature_z", "temperature_c_10", "temperature_missing",
            "humidity_available", "humidity_fraction", "heating_failure_severity"]
    rng = np.random.default_rng(3)

    def home(n, temperature=2.0, humidity=0.5):
        X = np.zeros((n, len(cols)), dtype=np.float32)
        X[:, 0] = np.sin(np.arange(n) / 40)
        X[:, 1] = X[:, 5] = 1.0
        X[:, 2] = rng.normal(size=n)
        X[:, 3] = temperature + 0.1 * rng.normal(size=n)        # 20 degC, degC / 10
        X[:, 6] = humidity + 0.05 * rng.normal(size=n)
        return X

    ref = ood.reference(home(50_000), cols, step_seconds=300)
    assert ref["trailing_steps"] == 288 and "hour_sin" not in ref["columns"]
    assert "heating_failure_severity" not in ref["columns"] and "temperature_available" not in ref["columns"]
    like = home(2000)
    assert not ood.flags(ood.scores(like, cols, ref), ref).any()
    hot = home(2000, temperature=4.5)                         # a home at 45 degC all day
    flagged = ood.flags(ood.scores(hot, cols, ref), ref)
    assert flagged[:144].all() and flagged.all()
    assert ood.worst_features(hot, cols, ref)[0] == ("temperature_c_10", 1.0)
    # two hours far outside (an incident) in a home that is otherwise like training: in distribution
    short = home(2000)
    short[1000:1024, 6] = 3.0
    assert not ood.flags(ood.scores(short, cols, ref), ref).any()
    # a home without humidity reads as an absent sensor: that is not out of distribution
    no_humidity = home(2000)
    no_humidity[:, 5] = no_humidity[:, 6] = 0.0
    assert not ood.flags(ood.scores(no_humidity, cols, ref), ref).any()
    # a day of the shifted home after a like one: flagged once most of the trailing day is outside
    mixed = np.concatenate([home(1000), home(1000, temperature=4.5)])
    first = np.flatnonzero(ood.flags(ood.scores(mixed, cols, ref), ref))[0]
    assert 1000 + 140 <= first <= 1000 + 148


def test_training_windows_keep_the_rules_false_alarms_first():
    """Normal steps where a rule fired (the rules' false alarms: heating switched off for the
    season) get their own share of the normal quota, ahead of the many other hard negatives
    (here a normal event covering most of the series), which keep at most two thirds together."""
    from models_ml.train import select_windows

    n = 20_000
    steps = np.datetime64("2025-01-01T00:00", "us") + np.arange(n) * np.timedelta64(5, "m")
    labels = np.zeros(n, dtype=np.int64)
    labels[100:110] = 1                                     # one anomaly
    rule_class = np.zeros(n, dtype=np.int64)
    rule_class[5_000:5_600] = 1                             # 600 steps the heating rule got wrong
    events = [("H", "normal", 0, "defrost", steps[1_000].item(), steps[19_000].item())]  # 18,000 hard steps
    series = data.HouseholdSeries("H", steps, np.zeros((n, 1), np.float32), rule_class, labels)
    cfg = TrainConfig(max_normal=3_000, normal_keep=1.0)    # a quota of 3,000 normal windows
    chosen = select_windows(series, events, cfg, np.random.default_rng(0), n_households=1)
    normal = chosen[labels[chosen] == 0]
    rule_wrong = np.flatnonzero(rule_class != 0)
    assert np.isin(rule_wrong, chosen).all()                # every one of them, though 30x fewer
    hard = normal[(normal >= 1_000) & (normal < 19_000) & (rule_class[normal] == 0)]
    assert len(rule_wrong) + len(hard) <= 2_000             # hard ones together: two thirds
    assert len(normal) == 3_000                             # plain windows fill the rest
    assert np.isin(np.arange(100, 110), chosen).all()       # the anomaly's steps, all of them


def test_a_humidity_anomaly_not_longer_than_a_shower_is_dropped_as_the_mart_does():
    """The evaluation drops what marts.fct_classified_anomalies drops: a humidity-anomaly event
    whose humidity never stayed high for longer than a shower (a bathroom drying under
    humidity_high_rh, or a 30-minute evening shower against a 45-minute limit); one whose high
    spell got longer than a shower at a single step stays whole, the limit is the household's
    own where the rules set it longer (a confirmed shower), and other classes are not judged by
    humidity."""
    from models_ml.metrics import drop_blips, humidity_evidence

    # minutes the humidity has been high at each step (0: not high), and the rules' limit
    high = np.array([0, 0, 0, 0, 0, 0, 10, 20, 30, 0, 0, 35, 40, 45, 0, 0, 50, 60, 0, 0, 0], dtype=float)
    long = np.array([45] * 16 + [180, 180] + [45] * 3, dtype=float)
    high[19] = np.nan                                                  # no rules row: no evidence
    pred = np.array([0, 2, 2, 2, 0, 0, 2, 2, 2, 0, 0, 2, 2, 2, 0, 0, 2, 2, 0, 2, 3])
    evidence = {2: humidity_evidence(high, long)}
    out = drop_blips(pred, bridge_steps=1, min_steps={}, evidence=evidence)
    assert out.tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 3]
