"""Reports belong with the warehouse they describe (issue 18 §1): reports/ next to the --db file,
or --reports-dir; the default warehouse keeps the checkout's reports/."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts.cli import build_parser, main
from scripts.output import reports_dir, reports_of
from warehouse.connection import DEFAULT_DB_PATH, REPO_ROOT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _files(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


@pytest.fixture
def elsewhere(tiny_db, tmp_path, monkeypatch):
    """A copy of the tiny warehouse in a folder of its own, and no $HOMEWATCH_REPORTS_DIR (the
    session's points every report at a tmp dir)."""
    monkeypatch.delenv("HOMEWATCH_REPORTS_DIR", raising=False)
    db = tmp_path / "elsewhere" / "w.duckdb"
    db.parent.mkdir()
    shutil.copy(tiny_db, db)
    return db


def test_a_warehouse_elsewhere_gets_its_own_reports(elsewhere):
    default_reports = reports_dir(DEFAULT_DB_PATH)
    before = _files(default_reports)
    assert main(["plot", "--household", "H0001", "--days", "1", "--db", str(elsewhere)]) == 0
    assert (elsewhere.parent / "reports" / "plots" / "H0001.png").read_bytes()[:8] == PNG_MAGIC
    assert _files(default_reports) == before  # the default warehouse's reports are untouched


def test_reports_dir_is_honoured(elsewhere, tmp_path):
    mine = tmp_path / "mine"
    assert main(["plot", "--household", "H0001", "--days", "1", "--db", str(elsewhere),
                 "--reports-dir", str(mine)]) == 0
    assert (mine / "plots" / "H0001.png").read_bytes()[:8] == PNG_MAGIC
    assert not (elsewhere.parent / "reports").exists()


@pytest.mark.parametrize("command", [["run"], ["batch"], ["report"], ["check"], ["plot", "--household", "H1"],
                                     ["train"], ["evaluate"]])
def test_every_command_that_writes_reports_takes_reports_dir(command, tmp_path):
    args = build_parser().parse_args([*command, "--db", str(tmp_path / "w.duckdb"), "--reports-dir",
                                      str(tmp_path / "out")])
    assert reports_of(args) == tmp_path / "out"


def test_the_default_warehouse_keeps_the_checkout_reports_and_none_shares_them(monkeypatch, tmp_path):
    monkeypatch.delenv("HOMEWATCH_REPORTS_DIR", raising=False)
    monkeypatch.delenv("HOMEWATCH_DB", raising=False)
    checkout = reports_dir(None)
    assert checkout == REPO_ROOT / "reports" == reports_dir(DEFAULT_DB_PATH)
    # a warehouse in the checkout's root, whose reports/ next to it would be the default's
    beside = reports_dir(REPO_ROOT / "mine.duckdb")
    assert beside.parent == REPO_ROOT and beside != checkout
    monkeypatch.setenv("HOMEWATCH_DB", str(tmp_path / "env.duckdb"))
    assert reports_dir(None) == tmp_path / "reports"  # $HOMEWATCH_DB is the warehouse when --db is not given
