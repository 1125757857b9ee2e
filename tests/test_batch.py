"""The scheduled batch job under faults: idempotent, one at a time, killed at any step, a busy
file, late data, a failed quality check; and the anomaly report it writes."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import duckdb
import pytest

from scripts.cli import main
from scripts.jobs import run_pipeline
from tests.conftest import query as _q
from tests.test_dbt import INCREMENTAL_TABLES, _fingerprint
from warehouse.ingest import ingest_files
from warehouse.land import land_simulation
from warehouse.lock import run_lock

# what a batch changes, fingerprinted without the columns that name a run or a time of day
DERIVED = [*INCREMENTAL_TABLES, "marts.fct_classified_anomalies"]
PREDICTIONS = ("select count(*), bit_xor(hash(household_id, step_at, model_version, predicted_class, "
               "round(confidence, 6))) from ml.predictions")


def _state(db) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        state = {t: _fingerprint(con, t) for t in DERIVED}
        state["ml.predictions"] = con.execute(PREDICTIONS).fetchone()
        return state
    finally:
        con.close()


def _quiet(step, message):
    pass


def _batch(db, tmp_path, **kw):
    return run_pipeline(db, job="batch", report_dir=tmp_path / "reports", progress=_quiet, **kw)


@pytest.fixture(scope="module")
def pending(batched, tmp_path_factory):
    """The demo warehouse with one more simulated day landed and not yet taken in."""
    db = tmp_path_factory.mktemp("pending") / "w.duckdb"
    shutil.copy(batched[0], db)
    land_simulation(db=db, append_days=1)
    return db


@pytest.fixture(scope="module")
def reference(pending, tmp_path_factory):
    """`pending` after one uninterrupted batch run: what every faulty run must end up as."""
    tmp = tmp_path_factory.mktemp("reference")
    db = tmp / "w.duckdb"
    shutil.copy(pending, db)
    result = _batch(db, tmp)
    return db, result, _state(db)


def _copy(db, tmp_path):
    target = tmp_path / "w.duckdb"
    shutil.copy(db, target)
    return target


def _spawn(db, tmp_path, **env):
    """`homewatch batch` in its own process group (so dbt dies with it), stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "batch", "--db", str(db)], stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, text=True, start_new_session=True,
        env={**os.environ, "HOMEWATCH_REPORTS_DIR": str(tmp_path / "reports"), **env})


def _kill_when(proc, marker: str, db) -> None:
    """Read the job's stderr until a line contains `marker`, then SIGKILL its whole process group
    (dbt included) and wait until the dead processes have let go of the warehouse file."""
    from warehouse.connection import connect

    seen = []
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            connect(db, read_only=True, wait_s=30).close()
            return
    proc.wait(timeout=60)
    raise AssertionError(f"the job ended (exit {proc.returncode}) before {marker!r}:\n" + "".join(seen[-30:]))


def _runs(db):
    return _q(db, "select status, step, rows_in, steps_scored, watermark_to from ops.job_runs order by started_at")


def test_a_batch_takes_in_the_new_day_and_records_the_run(pending, reference):
    db, result, _ = reference
    (batch_id, rows, landed, first), = _q(pending, "select batch_id, rows_loaded, finished_at, min_reading_at from "
                                                   "raw.batches order by finished_at desc limit 1")
    assert result.status == "succeeded" and result.batches == [batch_id] and result.rows_in == rows
    run = _q(db, "select status, step, batches, rows_in, steps_scored, anomalies_found, anomalies_by_class, "
                 "watermark_from < watermark_to, watermark_to, finished_at is not null from ops.job_runs "
                 "order by started_at desc limit 1")[0]
    assert run[:2] == ("succeeded", "done") and json.loads(run[2]) == [batch_id]
    assert run[3] == rows and run[7] and run[8] == landed and run[9]
    # every step has a prediction, and the new day's were made by this run
    assert _q(db, "select count(*) from marts.fct_ml_features f anti join ml.predictions p "
                  "using (household_id, step_at)") == [(0,)]
    (new_steps,), = _q(db, "select count(*) from ml.predictions where step_at >= ?", [first])
    assert new_steps == 4 * 288 and run[4] >= new_steps
    found = dict(_q(db, "select class_name, count(*) from marts.fct_classified_anomalies where end_at > ? group by 1",
                    [first]))
    assert run[5] == sum(found.values()) and json.loads(run[6]) == found
    html = result.report_path.read_text()
    assert result.run_id in html and "succeeded" in html


def test_running_the_same_batch_twice_adds_nothing(reference, tmp_path, capsys):
    db = _copy(reference[0], tmp_path)
    assert main(["batch", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "nothing_new" in out and "0 readings in, 0 steps scored" in out
    assert _state(db) == reference[2]
    (last, previous) = _runs(db)[-1], _runs(db)[-2]
    assert last[0] == "nothing_new" and last[2] == 0 and last[4] == previous[4]  # the watermark stays


def test_a_second_copy_exits_at_once_and_a_dead_holder_frees_the_lock(reference, tmp_path, capsys):
    db = _copy(reference[0], tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom warehouse.lock import run_lock\n"
         f"with run_lock({str(db)!r}, 'batch'):\n    print('held', flush=True)\n    time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["batch", "--db", str(db)]) == 75
        err = capsys.readouterr().err
        assert "another run is in progress" in err and f"pid {holder.pid}" in err and "Traceback" not in err
        assert len(_runs(db)) == len(_runs(reference[0]))   # it touched nothing
    finally:
        holder.kill()   # SIGKILL: no cleanup runs, the lock file stays behind
        holder.wait()
    with run_lock(db, "batch"):                             # the kernel released the dead holder's lock
        pass


def test_killed_during_dbt_the_next_run_completes_the_work(pending, reference, tmp_path):
    db = _copy(pending, tmp_path)
    before = _state(pending)
    _kill_when(_spawn(db, tmp_path), "OK created sql incremental model intermediate.int_readings_missing_steps", db)
    assert _runs(db)[-1][:2] == ("running", "build")
    # dbt committed some models; the batch is not marked processed and nothing was scored
    (batch_id,), = _q(db, "select batch_id from raw.batches order by finished_at desc limit 1")
    assert _q(db, "select count(*) from intermediate.int_batches_processed where batch_id = ?", [batch_id]) == [(0,)]
    assert _state(db)["ml.predictions"] == before["ml.predictions"]
    result = _batch(db, tmp_path)
    assert result.status == "succeeded" and result.batches == [batch_id]
    assert _state(db) == reference[2]                       # nothing lost, nothing doubled
    assert [r[0] for r in _runs(db)][-2:] == ["abandoned", "succeeded"]


def test_killed_during_scoring_leaves_no_prediction_and_the_next_run_completes(pending, reference, tmp_path):
    db = _copy(pending, tmp_path)
    before = _state(pending)
    _kill_when(_spawn(db, tmp_path, HOMEWATCH_FAILPOINT="score.in_transaction"), "failpoint score.in_transaction", db)
    assert _runs(db)[-1][:2] == ("running", "score")
    after_kill = _state(db)
    assert after_kill["ml.predictions"] == before["ml.predictions"]   # the open transaction died with it
    assert _q(db, "select count(*) from ml.scored_batches") == _q(pending, "select count(*) from ml.scored_batches")
    result = _batch(db, tmp_path)
    assert result.status == "succeeded" and result.steps_scored > 0
    assert _state(db) == reference[2]


def test_a_stopped_job_rolls_back_and_records_why(reference, tmp_path):
    """systemd stops a unit with SIGTERM: the job unwinds like Ctrl-C and says so in ops.job_runs."""
    db = _copy(reference[0], tmp_path)
    proc = _spawn(db, tmp_path, HOMEWATCH_FAILPOINT="job.build")
    for line in proc.stderr:
        if "failpoint job.build" in line:
            os.killpg(proc.pid, signal.SIGTERM)
            break
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130 and "interrupted" in err and "Traceback" not in err
    status, step, *_ = _runs(db)[-1]
    assert (status, step) == ("failed", "build")
    assert _state(db) == reference[2]


def test_a_busy_warehouse_file_fails_after_a_bounded_wait_with_a_clear_message(reference, tmp_path, monkeypatch,
                                                                                capsys):
    db = _copy(reference[0], tmp_path)
    shell = subprocess.Popen(   # someone's DuckDB shell with the file open for writing
        [sys.executable, "-c", f"import duckdb, time\ncon = duckdb.connect({str(db)!r})\nprint('open', flush=True)\n"
         "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    monkeypatch.setenv("HOMEWATCH_DB_WAIT_S", "1")
    try:
        assert shell.stdout.readline().strip() == "open"
        assert main(["batch", "--db", str(db)]) == 2
    finally:
        shell.kill()
        shell.wait()
    err = capsys.readouterr().err
    assert "locked by another process" in err and "Close any DuckDB shell" in err and "Traceback" not in err
    assert _state(db) == reference[2] and len(_runs(db)) == len(_runs(reference[0]))


def test_late_readings_are_taken_in_and_their_steps_recomputed(pending, reference, tmp_path):
    """Two hours of one home's new day arrive a batch late: the first run sees a dropout, the
    next takes the late readings in, and features, flags and predictions end as if on time."""
    db = _copy(pending, tmp_path)
    (first,), = _q(db, "select min_reading_at from raw.batches order by finished_at desc limit 1")
    window = ("household_id = 'H0002' and reading_at >= ?::timestamp + interval 10 hour "
              "and reading_at < ?::timestamp + interval 12 hour")
    con = duckdb.connect(str(db))
    late = con.execute(f"select reading_at, household_id, sensor, value from raw.readings where {window}",
                       [first, first]).fetchall()
    con.execute(f"delete from raw.readings where {window}", [first, first])
    con.close()
    assert _batch(db, tmp_path).status == "succeeded"
    dropout = ("select count(*) from intermediate.int_sensor_incident_steps where channel = 'dropout' and "
               "household_id = 'H0002' and step_at >= ?::timestamp + interval 10 hour "
               "and step_at < ?::timestamp + interval 12 hour")
    assert _q(db, dropout, [first, first])[0][0] > 0
    csv = tmp_path / "late.csv"
    csv.write_text("timestamp,household,sensor,value\n" + "".join(f"{t},{h},{s},{v}\n" for t, h, s, v in late))
    ingest_files([csv], db=db)
    result = _batch(db, tmp_path)
    assert result.status == "succeeded" and result.rows_in == len(late) and result.steps_scored > 0
    assert _q(db, dropout, [first, first]) == [(0,)]
    assert _state(db) == reference[2]


def test_a_critical_raw_data_failure_stops_before_the_build_until_forced(pending, reference, tmp_path, capsys):
    db = _copy(pending, tmp_path)
    con = duckdb.connect(str(db))   # an impossible temperature in the new batch
    con.execute("update raw.readings set value = 250 where sensor = 'temperature' and household_id = 'H0001' "
                "and reading_at = (select max(reading_at) from raw.readings)")
    con.close()
    assert main(["batch", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "a critical check of the raw data failed, so nothing was built or scored" in err
    assert "within_physical_range" in err
    assert _state(db) == _state(pending)                    # the raw data is checked before the build
    status, step, *_ = _runs(db)[-1]
    assert (status, step) == ("quality_failed", "raw_check")
    assert main(["batch", "--db", str(db)]) == 1            # still stopped: the watermark did not move
    assert main(["batch", "--db", str(db), "--force"]) == 0
    assert "building anyway because of --force" in capsys.readouterr().err
    assert _runs(db)[-1][0] == "succeeded"
    assert _state(db)["ml.predictions"][0] == reference[2]["ml.predictions"][0]


def _with_true_predictions(reference, tmp_path):
    """A copy of `reference` whose production model predicted the new batch's steps right (the
    simulator's labels, confidence 0.99) and its classified anomalies rebuilt from them. What the
    tests' one-epoch model makes of the new day differs between machines (on some every anomaly
    it raises there fails its class's evidence check): this one always has the day's heating
    failure (H0003, labelled from the day before to its end)."""
    from warehouse.taxonomy import CLASS_IDS, PROBABILITY_COLUMNS
    from warehouse.transform import build

    db = _copy(reference[0], tmp_path)
    con = duckdb.connect(str(db))
    try:
        batch, first = con.execute("select batch_id, min_reading_at from raw.batches order by finished_at desc limit 1").fetchone()
        probabilities = ", ".join(f"{column} = case when l.label_class = {anomaly_class} then 0.99 else 0.002 end"
                                  for anomaly_class, column in zip(CLASS_IDS, PROBABILITY_COLUMNS))
        changed = con.execute(
            f"update ml.predictions p set predicted_class = l.label_class, confidence = 0.99, {probabilities} "
            "from marts.int_steps_labelled l where l.household_id = p.household_id and l.step_at = p.step_at "
            "and p.step_at >= ?", [first]).fetchone()[0]
    finally:
        con.close()
    assert changed > 0
    build(db=db, select="fct_classified_anomalies")
    return db, batch, first


def test_the_anomaly_report_is_self_contained_and_renders_offline(reference, tmp_path):
    from scripts.anomaly_report import ReportOptions, write_anomaly_report
    from tests.test_quality_report import _page_requests

    report = reference[1].report_path
    html = report.read_text()
    assert "<script" not in html and "<link" not in html and "url(" not in html
    for text in ("Job runs", "Anomalies per day", "Confusion matrix", "Precision-recall", 'href="quality.html"',
                 reference[1].run_id):
        assert text in html, text
    # the job's report about the new day (every household has readings in it), from a model that
    # found the day's anomalies: the anomalies overlapping it, plotted per household
    db, batch, first = _with_true_predictions(reference, tmp_path)
    report = write_anomaly_report(db, tmp_path / "reports" / "anomalies.html", ReportOptions(batches=[batch]))
    html = report.read_text()
    assert "<script" not in html and "<link" not in html and "url(" not in html
    recent = _q(db, "select household_id, class_name, start_at, end_at from marts.fct_classified_anomalies "
                    "where end_at > ? order by household_id, start_at", [first])
    assert ("H0003", "temperature_failure") in {(h, c) for h, c, *_ in recent}
    assert "Households with the most anomalies" in html
    assert f"<b>{len(recent)}</b><span>anomalies in the new data" in html
    households = {r[0] for r in recent}
    assert html.count('aria-label="sensors of') == min(len(households), 12)
    # every anomaly of a plotted household is shaded on its panels, titled with its class and span
    plotted = html.split('aria-label="sensors of ')[1].split('"')[0]
    shaded = [r for r in recent if r[0] == plotted]
    assert shaded
    for _, name, start, end in shaded:
        assert f"<title>{name}: {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}</title>" in html
    requested, png = _page_requests(report, tmp_path)
    assert requested == []
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000


def test_the_report_command_rebuilds_it(reference, tmp_path, capsys):
    out = tmp_path / "a.html"
    assert main(["report", "--db", str(reference[0]), "--days", "30", "--households", "1", "--out", str(out)]) == 0
    html = out.read_text()
    assert "report period" in html and html.count('aria-label="sensors of') == 1


def test_the_report_draws_the_stored_precision_recall_curves():
    from scripts.anomaly_report import _pr_curves

    html = _pr_curves({"5": {"precision": [1.0, 0.9, 0.5], "recall": [0.0, 0.8, 1.0], "ap": 0.91}})
    points = html.split('<polyline points="')[1].split('"')[0].split()
    assert "<title>fire (AP 0.910)</title>" in html and len(points) == 3
    (x0, y0), (x1, y1), (x2, y2) = [map(float, p.split(",")) for p in points]
    assert x0 < x1 < x2 and y0 < y1 < y2             # recall rightwards, precision falling (SVG y grows down)
    assert abs((x1 - x0) / (x2 - x0) - 0.8) < 0.01 and abs((y1 - y0) / (y2 - y0) - 0.2) < 0.01


def test_sensor_panels_break_lines_at_gaps_and_draw_binary_runs():
    from expectations import svg

    chart = svg.panels([{"name": "temperature", "unit": "degC", "x": [0, 300, 600, 1500, 1800],
                         "y": [20.0, 21.0, 22.0, float("nan"), 19.0]},
                        {"name": "door", "x": [0, 300, 600, 900], "y": [0, 1, 1, 0], "binary": True}],
                       [(300, 900, "#c44e52", "fire: 00:05 to 00:15")], 1800, label="sensors of H1")
    assert chart.count("<polyline") == 1 and chart.count("<circle") == 1   # the gap splits the line
    assert "<title>fire: 00:05 to 00:15</title>" in chart
    door = [r for r in re.findall(r"<rect [^>]*>", chart) if 'fill="#37474f"' in r]
    assert len(door) == 1                                                    # one run of the door open
    width = float(door[0].split('width="')[1].split('"')[0])
    assert abs(width - (960 - 110 - 10) * 600 / 1800) < 0.2                  # from 300 s to 900 s
