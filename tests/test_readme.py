"""The README stays true: every query it shows runs on a built warehouse."""
from __future__ import annotations

import re

import pytest

from scripts.cli import main
from warehouse.connection import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
QUERIES = [re.sub(r"\s+", " ", q).strip() for q in re.findall(r'homewatch query "(.*?)"', README, flags=re.S)]


def test_the_readme_shows_queries():
    assert len(QUERIES) >= 4


@pytest.mark.parametrize("sql", QUERIES, ids=[q[:50] for q in QUERIES])
def test_each_readme_query_runs(sql, built_db, capsys):
    assert main(["query", sql, "--db", str(built_db)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "│" in out  # a result table was printed
