"""Train, register, score and evaluate on the tiny built warehouse (a quick, small model)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from models_ml import registry
from tests.conftest import query as _q
from warehouse.connection import REPO_ROOT, reader, transaction, writer

def _copy(trained, tmp_path):
    db, outcome = trained
    target = tmp_path / "w.duckdb"
    shutil.copy(db, target)
    shutil.copytree(outcome.folder.parent, tmp_path / "models")
    return target


def test_training_writes_weights_onnx_and_metadata_never_a_pickle(trained):
    db, outcome = trained
    files = sorted(p.name for p in outcome.folder.iterdir())
    assert files == ["metadata.json", "model.int8.onnx", "model.onnx", "weights.npz"]
    meta = json.loads((outcome.folder / "metadata.json").read_text())
    con = duckdb.connect(str(db), read_only=True)
    from models_ml.data import feature_columns
    assert meta["feature_columns"] == feature_columns(con)
    con.close()
    from tests.conftest import QUICK
    (step_minutes,), = _q(db, "select (epoch(max(step_at)) - epoch(min(step_at))) / (count(*) - 1) / 60 "
                              "from marts.fct_ml_features where household_id = 'H0001'")   # a gapless grid
    classes = {str(c): name for c, name in _q(db, "select anomaly_class, class_name from ref.anomaly_classes")}
    assert meta["window"] == QUICK.window and meta["step_minutes"] == step_minutes and meta["classes"] == classes
    assert len(meta["normalization"]["mean"]) == len(meta["feature_columns"])
    assert meta["metrics"]["onnx_max_abs_diff"] < 1e-4
    np.load(outcome.folder / "weights.npz", allow_pickle=False)       # plain arrays
    assert outcome.promoted                                             # the first version wins
    assert _q(db, "select model_version, status from ml.model_registry") == [(outcome.version, "production")]
    methods = {r[0] for r in _q(db, "select distinct method from ml.evaluation_metrics")}
    assert methods == {"classifier", "rules", "isolation_forest"}
    # the version's folder is under models/ next to its warehouse (HOMEWATCH_MODELS_DIR unset), as registered
    assert outcome.folder == db.parent / "models" / outcome.version and outcome.folder.is_dir()
    assert _q(db, "select artifact_dir from ml.model_registry") == [(str(outcome.folder),)]


def test_promotion_needs_a_better_validation_f1_and_can_be_forced_or_rolled_back(trained, tmp_path):
    db = _copy(trained, tmp_path)
    _, outcome = trained
    base = json.loads((outcome.folder / "metadata.json").read_text())

    def register(version, f1):
        meta = {**base, "model_version": version, "metrics": {**base["metrics"], "validation_macro_f1": f1}}
        with writer(db) as con, transaction(con):
            return registry.register(con, meta, outcome.folder)

    first = base["metrics"]["validation_macro_f1"]
    assert not register("worse", first - 0.1)
    assert not register("equal", first)
    assert register("better", first + 0.1)
    with writer(db) as con:
        assert registry.production(con)[0] == "better"
        registry.promote(con, "worse")                                  # forced
        assert registry.production(con)[0] == "worse"
        assert registry.rollback(con) == "better"
        assert registry.rollback(con) == outcome.version
        with pytest.raises(registry.RegistryError, match="nothing to roll back to"):
            registry.rollback(con)
        with pytest.raises(registry.RegistryError, match="no model version 'nope'"):
            registry.promote(con, "nope")


def test_scoring_is_gated_idempotent_and_covers_every_step(trained, tmp_path, capsys):
    from scripts.cli import main

    db = _copy(trained, tmp_path)
    assert main(["score", "--db", str(db)]) == 2                       # the batch was never checked
    assert "never been quality-checked" in capsys.readouterr().err
    assert main(["score", "--db", str(db), "--force"]) == 0
    n_steps = _q(db, "select count(*) from marts.fct_ml_features")[0][0]
    counts = "select count(*), count(distinct (household_id, step_at, model_version)) from ml.predictions"
    assert _q(db, counts)[0] == (n_steps, n_steps)
    sums = _q(db, "select min(p_normal + p_temperature_failure + p_humidity_anomaly + p_fridge_failure "
                  "+ p_door_at_night + p_fire), max(p_normal + p_temperature_failure + p_humidity_anomaly "
                  "+ p_fridge_failure + p_door_at_night + p_fire) from ml.predictions")[0]
    assert sums[0] == pytest.approx(1, abs=1e-4) and sums[1] == pytest.approx(1, abs=1e-4)
    # the class is the decision the model was calibrated for: argmax of p times its weights
    from models_ml.metrics import decide
    weights = json.loads((trained[1].folder / "metadata.json").read_text())["decision_weights"]
    rows = np.array(_q(db, "select p_normal, p_temperature_failure, p_humidity_anomaly, p_fridge_failure, "
                           "p_door_at_night, p_fire, predicted_class, confidence from ml.predictions"))
    assert len(weights) == 6 and (decide(rows[:, :6], weights) == rows[:, 6]).all()
    assert np.allclose(rows[np.arange(len(rows)), rows[:, 6].astype(int)], rows[:, 7])
    assert main(["score", "--db", str(db), "--force"]) == 0            # a re-run adds nothing
    assert "nothing new to score" in capsys.readouterr().err
    assert _q(db, counts)[0] == (n_steps, n_steps)
    assert _q(db, "select count(*) from ml.score_runs")[0][0] == 1


def test_a_window_only_architecture_trains_and_scores_window_by_window(trained, tmp_path):
    """The default causal CNN scores whole series at once; the other architectures (and models
    registered before it) take fixed windows, and score and evaluate through the same path."""
    from dataclasses import replace

    from models_ml.export import session, takes_sequences
    from models_ml.pipeline import train_and_register
    from models_ml.score import score
    from tests.conftest import QUICK

    db = _copy(trained, tmp_path)
    outcome = train_and_register(db, replace(QUICK, arch="cnn"), progress=lambda m: None)
    assert outcome.metadata["input"]["shape"][1] == QUICK.window
    assert not takes_sequences(session(outcome.folder / outcome.metadata["scoring_file"]))
    assert takes_sequences(session(trained[1].folder / registry.ONNX_FP32))      # the default's
    assert outcome.evaluation.summaries["classifier"]["household_weeks"] > 0
    with writer(db) as con:
        result = score(con, version=outcome.version, progress=lambda m: None, force=True)
    n_steps = _q(db, "select count(*) from marts.fct_ml_features")[0][0]
    assert result.steps_scored == n_steps
    assert _q(db, "select count(*) from ml.predictions where model_version = ?", [outcome.version]) == [(n_steps,)]


def test_a_crash_while_writing_leaves_no_partial_batch(trained, tmp_path, monkeypatch):
    from models_ml import score as scoring

    db = _copy(trained, tmp_path)
    real = scoring.utcnow
    calls = {"n": 0}

    def failing_now():
        calls["n"] += 1
        if calls["n"] == 2:               # the second call is inside the write transaction
            raise RuntimeError("simulated crash while writing")
        return real()

    monkeypatch.setattr(scoring, "utcnow", failing_now)
    with writer(db) as con, pytest.raises(RuntimeError, match="simulated crash"):
        scoring.score(con, force=True, progress=lambda m: None)
    assert _q(db, "select count(*) from ml.predictions")[0][0] == 0
    assert _q(db, "select count(*) from ml.scored_batches")[0][0] == 0


def test_a_missing_or_corrupt_model_file_fails_with_a_clear_message(trained, tmp_path, capsys):
    from scripts.cli import main

    db = _copy(trained, tmp_path)
    folder = tmp_path / "models" / trained[1].version
    con = duckdb.connect(str(db))
    con.execute("update ml.model_registry set artifact_dir = ?", [str(folder)])
    con.close()
    scoring_file = json.loads((folder / "metadata.json").read_text())["scoring_file"]
    (folder / scoring_file).unlink()
    assert main(["score", "--db", str(db), "--force"]) == 2
    assert f"model file not found: {folder / scoring_file}" in capsys.readouterr().err
    (folder / scoring_file).write_bytes(b"not an onnx model")
    assert main(["score", "--db", str(db), "--force"]) == 2
    assert "cannot be loaded by ONNX Runtime" in capsys.readouterr().err
    (folder / "metadata.json").write_text("{broken")
    assert main(["score", "--db", str(db), "--force"]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert _q(db, "select count(*) from ml.predictions")[0][0] == 0


def test_scoring_runs_without_torch(trained, tmp_path):
    db = _copy(trained, tmp_path)
    folder = tmp_path / "models" / trained[1].version
    code = (
        "import sys, duckdb\n"
        "from models_ml.score import score\n"
        f"con = duckdb.connect({str(db)!r})\n"
        f"con.execute('update ml.model_registry set artifact_dir = ?', [{str(folder)!r}])\n"
        "r = score(con, force=True, progress=lambda m: None)\n"
        "assert r.steps_scored > 0\n"
        "assert 'torch' not in sys.modules, 'scoring imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_evaluate_writes_metrics_and_a_report(trained, tmp_path, monkeypatch, capsys):
    from scripts.cli import main

    db = _copy(trained, tmp_path)
    folder = tmp_path / "models" / trained[1].version
    con = duckdb.connect(str(db))
    con.execute("update ml.model_registry set artifact_dir = ?", [str(folder)])
    con.close()
    monkeypatch.setenv("HOMEWATCH_REPORTS_DIR", str(tmp_path / "reports"))
    before = _q(db, "select count(distinct run_id) from ml.evaluation_metrics")[0][0]
    assert main(["evaluate", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "rules only (dbt)" in out and "Isolation Forest" in out
    assert _q(db, "select count(distinct run_id) from ml.evaluation_metrics")[0][0] == before + 1
    page = (tmp_path / "reports" / "model" / "evaluation.html").read_text()
    assert "Side by side" in page and "data:image/png;base64," in page and "http" not in page


def test_new_data_and_a_new_household_are_scored_once_and_a_promotion_refreshes_the_mart(trained, tmp_path):
    from models_ml.score import score
    from warehouse.ingest import ingest_files
    from warehouse.land import land_simulation
    from warehouse.transform import build

    db = _copy(trained, tmp_path)
    folder = tmp_path / "models" / trained[1].version
    con = duckdb.connect(str(db))
    con.execute("update ml.model_registry set artifact_dir = ?", [str(folder)])
    con.close()
    with writer(db) as con:
        score(con, force=True, progress=lambda m: None)
    first_run = _q(db, "select run_id from ml.score_runs")[0][0]
    land_simulation(db=db, append_days=1)
    csv = tmp_path / "flat_9.csv"           # a household seen for the first time, from a file
    csv.write_text("timestamp,temperature,humidity\n" + "".join(
        f"2025-01-15T{h:02d}:{m:02d}:00,{20 + m / 60:.2f},{45 + h / 10:.1f}\n" for h in range(6) for m in range(0, 60, 5)))
    ingest_files([csv], db=db, household="flat_9")
    build(db=db)
    with writer(db) as con:
        result = score(con, force=True, progress=lambda m: None)
    n_steps = _q(db, "select count(*) from marts.fct_ml_features")[0][0]
    assert _q(db, "select count(*), count(distinct (household_id, step_at)) from ml.predictions")[0] == (n_steps, n_steps)
    assert _q(db, "select count(*) from ml.predictions where household_id = 'flat_9'")[0][0] == 72
    # only the new day (and the step before it, whose features the new readings changed) was
    # re-predicted in the simulated homes: the older predictions are the first run's
    new_day = _q(db, "select count(*) from ml.predictions where run_id <> ? and household_id <> 'flat_9'", [first_run])[0][0]
    assert new_day == 4 * 289 and result.steps_scored == 4 * 289 + 72

    # a better version is promoted: scoring gives every step its prediction, the mart follows it.
    # Both versions name a 2-hour fridge failure in H0001 (whatever the quick model predicts
    # elsewhere), so the mart has anomalies of either version to show: only the new one's.
    meta = {**json.loads((folder / "metadata.json").read_text()), "model_version": "better"}
    meta["metrics"] = {**meta["metrics"], "validation_macro_f1": 2.0}
    with writer(db) as con, transaction(con):
        assert registry.register(con, meta, folder)
    with writer(db) as con:
        assert score(con, force=True, progress=lambda m: None).steps_scored == n_steps
        con.execute("update ml.predictions set predicted_class = 3 where household_id = 'H0001' "
                    "and step_at between '2025-01-03 10:00' and '2025-01-03 11:55'")
    assert _q(db, "select count(distinct model_version) from ml.predictions where household_id = 'H0001' "
                  "and step_at = '2025-01-03 10:00' and predicted_class = 3") == [(2,)]
    build(db=db, select="anomaly_classes stg_ml__predictions stg_ml__model_registry fct_classified_anomalies")
    assert _q(db, "select distinct model_version from marts.fct_classified_anomalies") == [("better",)]


def test_a_training_stopped_by_sigterm_leaves_no_model_behind(trained, tmp_path):
    """A scheduler stopping `homewatch train` (SIGTERM) mid-epoch: the command says so, and
    neither a model folder nor a registry row is left."""
    import os
    import signal

    db = _copy(trained, tmp_path)
    before = _q(db, "select model_version, status from ml.model_registry order by 1")
    folders = sorted(p.name for p in (tmp_path / "models").iterdir())
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "train", "--db", str(db), "--epochs", "500",
         "--set", "patience=500", "--set", "hidden=8", "--set", "max_per_class=2000", "--set", "max_normal=4000"],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "HOMEWATCH_MODELS_DIR": str(tmp_path / "models")})
    try:
        for line in proc.stderr:
            if "epoch 2/" in line:
                proc.send_signal(signal.SIGTERM)
                break
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == folders
    assert _q(db, "select model_version, status from ml.model_registry order by 1") == before


def test_a_model_scores_after_new_feature_columns_and_refuses_missing_ones(trained, tmp_path, capsys):
    """A warehouse upgraded with a new feature column still scores with an older model (it reads
    its own columns by name: the same predictions as before the column came); a model trained on
    a column the table lacks stops, naming it, and writes nothing."""
    from models_ml.score import ScoringError, score
    from scripts.cli import main

    db = _copy(trained, tmp_path)
    folder = tmp_path / "models" / trained[1].version
    con = duckdb.connect(str(db))
    con.execute("update ml.model_registry set artifact_dir = ?", [str(folder)])
    con.close()
    with writer(db) as con:
        assert score(con, force=True, progress=lambda m: None).steps_scored > 0
    query = "select household_id, step_at, predicted_class, confidence from ml.predictions order by all"
    before = _q(db, query)
    con = duckdb.connect(str(db))
    con.execute("delete from ml.predictions")
    # a new column, placed first so that every old column moves: scoring must read by name
    con.execute("create or replace table marts.fct_ml_features as "
                "select 7.0::double as a_new_trend_6h, * from marts.fct_ml_features")
    con.close()
    with writer(db) as con:
        score(con, force=True, progress=lambda m: None)
    assert _q(db, query) == before
    meta = json.loads((folder / "metadata.json").read_text())
    meta["feature_columns"] = [*meta["feature_columns"], "humidity_trend_6h"]   # trained on a column the table lacks
    (folder / "metadata.json").write_text(json.dumps(meta))
    con = duckdb.connect(str(db))
    con.execute("delete from ml.predictions")
    con.close()
    with writer(db) as con, pytest.raises(ScoringError, match="does not have: humidity_trend_6h"):
        score(con, force=True, progress=lambda m: None)
    assert main(["score", "--db", str(db), "--force"]) == 2
    assert "retrain with `homewatch train`" in capsys.readouterr().err
    # a model from before sensor availability (no <s>_available inputs) would read an absent
    # sensor as a failed one: refused, though the table has every column it reads
    meta["feature_columns"] = [c for c in meta["feature_columns"][:-1] if not c.endswith("_available")]
    (folder / "metadata.json").write_text(json.dumps(meta))
    with writer(db) as con, pytest.raises(ScoringError, match="predates sensor availability"):
        score(con, force=True, progress=lambda m: None)
    assert _q(db, "select count(*) from ml.predictions")[0][0] == 0


def test_int8_scores_only_if_it_keeps_the_validation_f1_and_promotion_compares_what_scores(trained, tmp_path, monkeypatch):
    """The quantized model scores unless it loses more validation macro-F1 than allowed; the
    figure promotion compares is that of the file scoring runs."""
    from models_ml import pipeline
    from models_ml.score import load_model
    from tests.conftest import QUICK

    def chosen(outcome):
        with reader(outcome.folder.parent.parent / "w.duckdb") as con:
            _, meta, _, name = load_model(con, outcome.version)
        m = meta["metrics"]
        assert {"model.onnx", "model.int8.onnx"} <= {p.name for p in outcome.folder.iterdir()}
        assert m["validation_macro_f1_argmax"] == (m["validation_macro_f1_int8"] if name == registry.ONNX_INT8
                                                  else m["validation_macro_f1_onnx_fp32"])
        return name, m["validation_macro_f1_onnx_fp32"] - m["validation_macro_f1_int8"]

    name, drop = chosen(trained[1])                               # the session's model, the default allowance
    assert name == (registry.ONNX_INT8 if drop <= pipeline.INT8_MAX_F1_DROP else registry.ONNX_FP32)
    db = _copy(trained, tmp_path)
    monkeypatch.setattr(pipeline, "INT8_MAX_F1_DROP", -1.0)      # int8 would have to gain a whole F1
    assert chosen(pipeline.train_and_register(db, QUICK, progress=lambda m: None))[0] \
        == registry.ONNX_FP32


def test_model_promote_and_rollback_commands_switch_production_and_refresh_the_mart(batched, tmp_path, capsys):
    from scripts.cli import main

    db = tmp_path / "w.duckdb"
    shutil.copy(batched[0], db)
    (first, _, folder), = _q(db, "select model_version, val_macro_f1, artifact_dir from ml.model_registry")
    meta = {**json.loads((Path(folder) / "metadata.json").read_text()), "model_version": "other"}
    with writer(db) as con, transaction(con):
        assert not registry.register(con, meta, Path(folder))                 # no better: not promoted
    anomalies = "select model_version, count(*) from marts.fct_classified_anomalies group by 1"
    scored = _q(db, anomalies)
    assert scored and scored[0][0] == first
    assert main(["model", "list", "--db", str(db)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in listed] == [[first, "production"], ["other", "candidate"]]

    assert main(["model", "promote", "other", "--db", str(db)]) == 0
    assert "other is now the production model" in capsys.readouterr().err
    assert _q(db, "select model_version from ml.model_registry where status = 'production'") == [("other",)]
    assert _q(db, anomalies) == []            # the mart follows production: 'other' has scored nothing yet
    assert main(["model", "rollback", "--db", str(db)]) == 0
    assert _q(db, "select model_version from ml.model_registry where status = 'production'") == [(first,)]
    assert _q(db, anomalies) == scored

    for args, message in ((["promote", "nope"], "no model version 'nope' in the registry; known: "),
                          (["promote"], "needs a VERSION"), (["rollback"], "nothing to roll back to")):
        assert main(["model", *args, "--db", str(db)]) == 2
        assert message in capsys.readouterr().err
    assert _q(db, "select model_version from ml.model_registry where status = 'production'") == [(first,)]


# --- homes with some sensors, homes unlike training -----------------------------------------


@pytest.fixture(scope="module")
def partial_homes(trained, tmp_path_factory):
    """The trained warehouse rebuilt with its first household reduced to temperature and humidity
    and its second 25 degC warmer than any simulated home, then scored: (db, two-sensor household,
    warm household, the scorer's messages)."""
    from models_ml.score import score
    from warehouse.transform import build

    db = _copy(trained, tmp_path_factory.mktemp("partial"))
    two, warm = [h for h, in _q(db, "select distinct household_id from raw.readings order by 1")][:2]
    with writer(db) as con:
        con.execute("delete from raw.readings where household_id = ? and sensor not in ('temperature', 'humidity')",
                    [two])
        con.execute("update raw.readings set value = value + 25 where household_id = ? and sensor = 'temperature'",
                    [warm])
    build(db=db, full_refresh=True)
    messages = []
    with writer(db) as con:
        score(con, force=True, progress=messages.append)
    build(db=db, select="stg_ml__predictions fct_classified_anomalies")
    return db, two, warm, messages


def test_a_home_with_only_temperature_and_humidity_gets_features_and_no_fridge_door_or_fire(partial_homes):
    from tests.conftest import TINY

    db, two, _, _ = partial_homes
    steps = TINY.days * 288
    (row,) = _q(db, "select count(*), min(temperature_available), min(humidity_available), "
                    "max(fridge_power_available), max(motion_available), max(door_available), "
                    "max(fire_alarm_available), avg(fridge_power_missing), avg(door_missing) "
                    "from marts.fct_ml_features where household_id = ? and step_at >= (select min(step_at) + "
                    "interval 1 hour from marts.fct_ml_features where household_id = ?)", [two, two])
    assert row == (steps - 12, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0)
    (row,) = _q(db, "select count(*), max(p_fridge_failure), max(p_door_at_night), max(p_fire), "
                    "count(*) filter (where predicted_class in (3, 4, 5)), max(p_temperature_failure) "
                    "from ml.predictions where household_id = ?", [two])
    assert row[:5] == (steps, 0.0, 0.0, 0.0, 0)
    assert row[5] > 0                                  # the classes it has sensors for are still scored
    # in the homes that have the sensors the same model gives them probability (simulated homes
    # have kits of their own: each class is checked in the homes with its sensor)
    (row,) = _q(db, "with kits as (select household_id, list(distinct sensor) as sensors from raw.readings group by 1) "
                    "select min(fridge) filter (where list_contains(sensors, 'fridge_power')), "
                    "min(door) filter (where list_contains(sensors, 'door')), "
                    "min(fire) filter (where list_contains(sensors, 'fire_alarm')) from (select household_id, "
                    "max(p_fridge_failure) as fridge, max(p_door_at_night) as door, max(p_fire) as fire "
                    "from ml.predictions where household_id <> ? group by 1) join kits using (household_id)", [two])
    assert all(v is not None and v > 0 for v in row)
    assert _q(db, "select count(*) from marts.fct_classified_anomalies where household_id = ? "
                  "and anomaly_class in (3, 4, 5)", [two]) == [(0,)]


def test_a_home_unlike_the_training_homes_is_flagged_and_raises_no_alert(partial_homes, tmp_path):
    from scripts.anomaly_report import write_anomaly_report
    from warehouse.transform import build

    db, two, warm, messages = partial_homes
    shares = dict(_q(db, "select household_id, avg(is_out_of_distribution::int) from ml.predictions group by 1"))
    assert shares[warm] > 0.95
    assert all(shares[h] < 0.02 for h in shares if h not in (two, warm)), shares
    # the tiny warehouse trains on one household, whose humidity never had the two-sensor home's
    # day-long fault: that day is out of distribution, the rest is not
    assert shares[two] < 0.1, shares
    assert _q(db, "select count(*) from ml.predictions where household_id = ? and is_out_of_distribution "
                  "and ood_score < 0.5", [warm]) == [(0,)]
    assert any(m.startswith(f"{warm}:") and "temperature_c_10" in m for m in messages), messages
    # the tiny model, its decision asking for more evidence than the network gives, may name no
    # class in that home; the gate must hold whatever the model says, so make it name a fire
    # there, on two hours of out-of-distribution steps it called normal, as an over-confident
    # model would
    flagged = ("select count(*) from ml.predictions where household_id = ? "
               "and is_out_of_distribution and predicted_class <> 0")
    (before,) = _q(db, flagged, [warm])[0]
    with writer(db) as con:
        con.execute("update ml.predictions set predicted_class = 5, p_fire = 0.9, p_normal = 0.02, confidence = 0.9 "
                    "where household_id = ? and predicted_class = 0 and step_at in (select step_at from ml.predictions "
                    "where household_id = ? and is_out_of_distribution and predicted_class = 0 "
                    "order by step_at limit 24 offset 100)", [warm, warm])
    build(db=db, select="stg_ml__predictions fct_classified_anomalies")
    assert _q(db, flagged, [warm])[0][0] == before + 24  # the model calls some of its steps anomalies...
    assert _q(db, "select count(*) from marts.fct_classified_anomalies where household_id = ?",
              [warm]) == [(0,)]                         # ...but the anomaly table raises none of them
    html = write_anomaly_report(db, tmp_path / "anomalies.html").read_text()
    section = html.split("Out of the model's distribution")[1]
    assert f"<td>{warm}</td>" in section and f"<td>{[h for h in shares if h not in (two, warm)][0]}</td>" not in section
    build(db=db, select="fct_classified_anomalies", dbt_vars={"alert_out_of_distribution": True})
    assert _q(db, "select count(*) > 0, sum(ood_steps) > 0 from marts.fct_classified_anomalies "
                  "where household_id = ?", [warm]) == [(True, True)]
