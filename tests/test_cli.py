"""The `homewatch` command line: documented subcommands, errors, and the main job."""
from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from scripts.cli import build_parser, main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _subcommands() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_every_subcommand_has_help_with_an_example_and_a_db_flag():
    subs = _subcommands()
    assert {"run", "simulate", "ingest", "plot", "status"} <= set(subs)
    for name, sub in subs.items():
        text = sub.format_help()
        assert sub.description, name
        assert f"example:\n  homewatch {name}" in text, name
        assert "--db" in text, name


def test_every_subcommand_is_in_the_readme():
    from warehouse.connection import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    for name in _subcommands():
        assert f"homewatch {name}" in readme, name


def test_simulate_status_and_plot(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    assert main(["simulate", "--households", "2", "--days", "2", "--seed", "4", "--db", str(db)]) == 0
    assert main(["simulate", "--append", "--days", "1", "--db", str(db)]) == 0
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "raw.readings" in out and "ground truth normal   defrost" in out
    png = tmp_path / "h.png"
    assert main(["plot", "--household", "H0002", "--days", "2", "--out", str(png), "--db", str(db)]) == 0
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 20_000
    con = duckdb.connect(str(db), read_only=True)
    days = con.execute("select days from raw.simulations").fetchone()[0]
    con.close()
    assert days == 3


def test_errors_are_one_clear_line_and_exit_code_2(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    assert main(["simulate", "--step-minutes", "7", "--db", str(db)]) == 2
    assert "step_minutes must divide a day" in capsys.readouterr().err
    assert main(["simulate", "--append", "--days", "1", "--db", str(db)]) == 2
    assert "nothing to append to" in capsys.readouterr().err
    assert main(["plot", "--household", "H0001", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no warehouse at" in capsys.readouterr().err


def test_bad_arguments_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--start", "yesterday"])
    assert info.value.code == 2
    assert "is not a date like 2025-01-01" in capsys.readouterr().err


def test_run_is_the_main_job(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMEWATCH_REPORTS_DIR", str(tmp_path / "reports"))
    db = tmp_path / "w.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "run", "--households", "4", "--days", "4", "--train-epochs", "1",
         "--db", str(db)],
        capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[simulate] landed" in proc.stderr
    assert "promoted to production" in proc.stderr and "steps of 4 households scored" in proc.stderr
    assert "raw.readings" in proc.stdout and "try:" in proc.stdout and "production model" in proc.stdout
    assert (tmp_path / "reports" / "plots" / "H0001.png").read_bytes()[:8] == PNG_MAGIC
    assert "Side by side" in (tmp_path / "reports" / "model" / "evaluation.html").read_text()
