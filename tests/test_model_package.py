"""Model packages (export, verify, import into another warehouse), the grid-step check, and job
summaries that count only what the run took in. Reuses the session's trained tiny warehouse."""
from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from models_ml.package import MANIFEST
from scripts.cli import main
from simulator.profiles import draw_profile
from tests.conftest import TINY
from tests.conftest import query as _q

PREDICTED = ("select household_id, step_at, model_version, predicted_class, p_normal, p_temperature_failure, "
             "p_humidity_anomaly, p_fridge_failure, p_door_at_night, p_fire, confidence from ml.predictions "
             "order by household_id, step_at")


@pytest.fixture(scope="module")
def package(trained, tmp_path_factory):
    """The session's trained model exported by the CLI: (package folder, trained outcome)."""
    db, outcome = trained
    path = tmp_path_factory.mktemp("package") / "pkg"
    assert main(["model", "export", outcome.version, str(path), "--db", str(db)]) == 0
    return path, outcome


def _fresh(built_db, tmp_path):
    """A warehouse that never trained a model: the built tiny one, alone in its own folder."""
    db = tmp_path / "other" / "w.duckdb"
    db.parent.mkdir()
    shutil.copy(built_db, db)
    return db


def _registry(db):
    return _q(db, "select model_version, status, origin from ml.model_registry")


def test_a_package_holds_onnx_metadata_and_a_checksum_of_every_file(package, trained):
    import hashlib

    path, outcome = package
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["format"] == "homewatch-model-package" and manifest["model_version"] == outcome.version
    assert sorted(manifest["files"]) == ["metadata.json", "model.int8.onnx", "model.onnx", "weights.npz"]
    assert sorted(p.name for p in path.iterdir()) == sorted([*manifest["files"], MANIFEST])
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == entry["sha256"]
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["grid_step_seconds"] == 300 and meta["window"] == 12 and len(meta["decision_weights"]) == 6
    # the sensors its training homes have (simulated homes have kits of their own), none other
    kits = {s for i in range(TINY.households) for s in draw_profile(TINY.seed, i).sensors}
    assert {"temperature", "humidity", "door"} <= set(meta["sensors"]) <= kits and meta["sensors"] == sorted(meta["sensors"])
    summary = meta["training_summary"]
    n_households = summary["households"]["train"] + summary["households"]["validation"]
    assert n_households == meta["training_data"]["train_households"] + meta["training_data"]["validation_households"]
    assert summary["households"]["train"] + summary["households"]["validation"] + summary["households"]["test"] == TINY.households
    assert summary["days"] == TINY.days and summary["household_sources"] == {"simulator": n_households}
    # every labelled step of the train and validation households, by class
    assert sum(summary["steps_per_class"].values()) == n_households * TINY.days * 288
    assert summary["simulations"][0]["seed"] == TINY.seed and summary["simulations"][0]["step_seconds"] == 300
    assert meta["metrics"]["validation_macro_f1"] == outcome.metadata["metrics"]["validation_macro_f1"]


def test_an_imported_model_scores_another_warehouse_exactly_as_at_home(package, trained, built_db, tmp_path, capsys):
    from models_ml.score import score
    from warehouse.connection import writer

    path, outcome = package
    other = _fresh(built_db, tmp_path)
    assert _registry(other) == []
    assert main(["model", "import", str(path), "--db", str(other)]) == 0
    assert "registered as production" in capsys.readouterr().err      # the warehouse had no production model
    (row,) = _q(other, "select model_version, status, origin, imported_from, artifact_dir, grid_step_seconds, "
                       "training_data->>'$.households.train' from ml.model_registry")
    stored = other.parent / "models" / outcome.version
    assert row[:4] == (outcome.version, "production", "imported", str(path.resolve()))
    assert row[4] == str(stored) and row[5] == 300 and int(row[6]) >= 1
    assert sorted(p.name for p in stored.iterdir()) == sorted(p.name for p in path.iterdir())
    assert main(["model", "list", "--db", str(other)]) == 0
    assert f"imported from {path.resolve()}" in capsys.readouterr().out

    home = tmp_path / "home" / "w.duckdb"        # the training warehouse scores the same steps
    home.parent.mkdir()
    shutil.copy(trained[0], home)
    for db in (home, other):
        with writer(db) as con:
            assert score(con, force=True, progress=lambda m: None).steps_scored == TINY.households * TINY.days * 288
    assert _q(other, PREDICTED) == _q(home, PREDICTED)
    assert _q(home, "select origin from ml.model_registry") == [("trained",)]
    from scripts.anomaly_report import write_anomaly_report      # the report says which model, trained on what

    html = write_anomaly_report(other, tmp_path / "anomalies.html").read_text()
    assert f"imported from {path.resolve()}" in html and f"{TINY.days} days, sensors " in html and "door, fire_alarm" in html

    # the same package again: nothing changes
    registry = lambda: repr(_q(other, "select * from ml.model_registry"))  # noqa: E731  (a NaN test figure equals itself)
    before = registry()
    assert main(["model", "import", str(path), "--db", str(other)]) == 0
    assert "already registered (production, imported from" in capsys.readouterr().err
    assert registry() == before


def _refused(package_path, db, capsys) -> str:
    assert main(["model", "import", str(package_path), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "nothing was imported" in err
    assert _registry(db) == []
    models = db.parent / "models"
    assert not models.exists() or not any(models.iterdir())
    return err


def test_a_tampered_missing_or_unlisted_file_is_refused_and_nothing_registered(package, built_db, tmp_path, capsys):
    path, _ = package
    other = _fresh(built_db, tmp_path)

    tampered = tmp_path / "tampered"
    shutil.copytree(path, tampered)
    onnx = bytearray((tampered / "model.onnx").read_bytes())
    onnx[len(onnx) // 2] ^= 0x01                                   # one bit of one byte
    (tampered / "model.onnx").write_bytes(bytes(onnx))
    assert "model.onnx does not match its SHA-256 in MANIFEST.json" in _refused(tampered, other, capsys)

    missing = tmp_path / "missing"
    shutil.copytree(path, missing)
    (missing / "model.int8.onnx").unlink()
    assert "model.int8.onnx is missing from the package" in _refused(missing, other, capsys)

    unlisted = tmp_path / "unlisted"
    shutil.copytree(path, unlisted)
    (unlisted / "extra.onnx").write_bytes(b"x")
    assert "extra.onnx is in the package" in _refused(unlisted, other, capsys)

    newer = tmp_path / "newer"
    shutil.copytree(path, newer)
    manifest = json.loads((newer / MANIFEST).read_text())
    (newer / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    assert "format version is 99" in _refused(newer, other, capsys)


def test_a_zipped_package_imports_into_a_warehouse_not_built_yet(trained, tmp_path, capsys):
    """The newcomer's order: ingest, import, build, score; a model that is not better than the
    production one stays a candidate unless --promote."""
    from warehouse.connection import writer

    db, outcome = trained
    archive = tmp_path / "model.zip"
    assert main(["model", "export", "production", str(archive), "--db", str(db)]) == 0
    empty = tmp_path / "empty" / "w.duckdb"
    empty.parent.mkdir()
    with writer(empty):
        pass
    assert main(["model", "import", str(archive), "--db", str(empty)]) == 0
    assert _registry(empty) == [(outcome.version, "production", "imported")]
    assert (empty.parent / "models" / outcome.version / "model.onnx").is_file()

    # a warehouse with a production model of its own: the import is a candidate, or production on demand
    home = tmp_path / "home" / "w.duckdb"
    home.parent.mkdir()
    shutil.copy(db, home)
    with writer(home) as con:
        con.execute("update ml.model_registry set model_version = 'local' where model_version = ?", [outcome.version])
        con.execute("update ml.model_registry set artifact_dir = ?", [str(outcome.folder)])
    assert main(["model", "import", str(archive), "--db", str(home)]) == 0
    assert sorted(_registry(home)) == sorted([("local", "production", "trained"), (outcome.version, "candidate", "imported")])
    capsys.readouterr()


def test_the_main_job_ships_its_production_model_as_a_package(trained, built_db, tmp_path):
    from scripts.cli_ml import ship_model

    db = tmp_path / "demo" / "w.duckdb"
    db.parent.mkdir()
    shutil.copy(trained[0], db)
    folder = ship_model(db)
    assert folder == tmp_path / "demo" / "model-packages" / f"homewatch-model-{trained[1].version}"
    assert (folder.parent / "latest").resolve() == folder
    assert ship_model(db) == folder                              # a second run keeps it
    other = _fresh(built_db, tmp_path)
    assert main(["model", "import", str(folder.parent / "latest"), "--db", str(other)]) == 0
    assert _registry(other) == [(trained[1].version, "production", "imported")]


def test_a_warehouse_on_another_grid_step_is_refused_with_what_to_do(package, built_db, tmp_path, capsys):
    path, outcome = package
    other = _fresh(built_db, tmp_path)
    assert main(["model", "import", str(path), "--db", str(other)]) == 0
    # a warehouse whose builds recorded a 10-minute grid (as `homewatch build --step 10min` does)
    con = duckdb.connect(str(other))
    con.execute("update ops.grid set step_seconds = 600")
    con.close()
    capsys.readouterr()
    assert main(["score", "--db", str(other), "--force"]) == 2
    err = capsys.readouterr().err
    assert (f"model {outcome.version} was trained on a 5-minute grid, but this warehouse's features "
            "(marts.fct_ml_features) are on a 10-minute grid") in err
    assert "homewatch build --step 5min --full-refresh" in err
    assert _q(other, "select count(*) from ml.predictions") == [(0,)]

    # a model from before the step was recorded is taken as a 5-minute one
    folder = other.parent / "models" / outcome.version
    meta = json.loads((folder / "metadata.json").read_text())
    del meta["grid_step_seconds"], meta["step_minutes"]
    from models_ml.package import model_step_seconds
    from models_ml.score import ScoringError, check_grid_step

    assert model_step_seconds(meta) == 5 * 60
    con = duckdb.connect(str(other), read_only=True)
    try:
        with pytest.raises(ScoringError, match="trained on a 5-minute grid, but .* on a 10-minute grid"):
            check_grid_step(con, outcome.version, meta)
    finally:
        con.close()


def test_the_batch_summary_and_report_count_only_the_households_and_steps_taken_in(batched, tmp_path):
    """Late readings for one household: the run's anomalies are that household's, over the span of
    its new readings, not every anomaly of the warehouse since the first new reading."""
    from scripts.jobs import run_pipeline
    from warehouse.ingest import ingest_files

    db = tmp_path / "w.duckdb"
    shutil.copy(batched[0], db)
    (household, start, end), = _q(db, "select household_id, start_at, end_at from marts.fct_classified_anomalies "
                                      "order by start_at, household_id limit 1")
    # its own readings again, over the anomaly (the same values: the features do not change)
    rows = _q(db, "select household_id, sensor, strftime(reading_at, '%Y-%m-%dT%H:%M:%S'), value from raw.readings "
                  "where household_id = ? and reading_at >= ? and reading_at < ? order by all", [household, start, end])
    late = tmp_path / "late.csv"
    late.write_text("household_id,sensor,timestamp,value\n" + "".join(f"{h},{s},{t},{v!r}\n" for h, s, t, v in rows))
    # ingest skips readings the warehouse already holds: take them out, so they arrive late
    con = duckdb.connect(str(db))
    con.execute("delete from raw.readings where household_id = ? and reading_at >= ? and reading_at < ?",
                [household, start, end])
    con.close()
    ingest_files([late], db=db)
    first, last = rows[0][2], rows[-1][2]
    everywhere = _q(db, "select count(*) from marts.fct_classified_anomalies where end_at > ?", [first])[0][0]

    result = run_pipeline(db, job="batch", force=True, report_dir=tmp_path / "reports", progress=lambda s, m: None)
    expected = dict(_q(db, "select class_name, count(*) from marts.fct_classified_anomalies where household_id = ? "
                           "and end_at > ? and start_at <= ? group by 1", [household, first, last]))
    others = _q(db, "select count(*) from marts.fct_classified_anomalies where household_id <> ? and end_at > ?",
                [household, first])[0][0]
    assert sum(expected.values()) >= 1 and others >= 1 and everywhere > sum(expected.values())
    assert result.anomalies_by_class == expected and result.anomalies_found == sum(expected.values())
    assert f"anomalies in the new data: {sum(expected.values())} " in result.summary()
    html = result.report_path.read_text()
    assert f"<b>{sum(expected.values())}</b><span>anomalies in the new data" in html
    assert "the new data of 1 batch(es): 1 household(s)" in html
    assert html.count('aria-label="sensors of') == 1 and f'aria-label="sensors of {household}"' in html


def test_a_package_carries_the_out_of_distribution_ranges_and_an_older_one_imports_with_a_warning(
        package, built_db, tmp_path, capsys):
    import hashlib

    import numpy as np

    from models_ml import ood

    path, outcome = package
    meta = json.loads((path / "metadata.json").read_text())
    ref = meta["ood"]
    assert ref["columns"] == ood.checked_columns(meta["feature_columns"]) and len(ref["columns"]) > 10
    assert len(ref["low"]) == len(ref["high"]) == len(ref["columns"])
    assert all(lo < hi for lo, hi in zip(ref["low"], ref["high"]))
    assert ref["trailing_steps"] == 288 and 0 <= ref["validation_flagged_share"] <= 1
    # the ranges travel: a step at the middle of every range is inside, one far above is outside
    X = np.array([[(lo + hi) / 2 for lo, hi in zip(ref["low"], ref["high"])]], dtype=np.float32)
    assert not ood.outside(X, ref["columns"], ref).any()
    assert ood.outside(X + 1000, ref["columns"], ref).all()

    # a package from before the check: imported, with what it means said
    older = tmp_path / "older"
    shutil.copytree(path, older)
    del meta["ood"]
    (older / "metadata.json").write_text(json.dumps(meta))
    manifest = json.loads((older / MANIFEST).read_text())
    manifest["files"]["metadata.json"] = {"sha256": hashlib.sha256((older / "metadata.json").read_bytes()).hexdigest(),
                                          "bytes": (older / "metadata.json").stat().st_size}
    (older / MANIFEST).write_text(json.dumps(manifest))
    other = _fresh(built_db, tmp_path)
    capsys.readouterr()
    assert main(["model", "import", str(older), "--db", str(other)]) == 0
    err = capsys.readouterr().err
    assert "predates the sensor availability features and the out-of-distribution check" in err
    assert _registry(other) == [(outcome.version, "production", "imported")]
