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
def test_each_readme_query_runs(sql, batched, capsys):
    """On the demo warehouse: built, checked, scored, marts refreshed by the batch job."""
    assert main(["query", sql, "--db", str(batched[0])]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "│" in out  # a result table was printed


def _readme_query(start: str) -> str:
    """The README query that begins with `start`."""
    found = [q for q in QUERIES if q.startswith(start)]
    assert len(found) == 1, start
    return found[0]


def test_the_readme_queries_answer_what_they_say(batched):
    import duckdb

    con = duckdb.connect(str(batched[0]), read_only=True)
    try:
        now = con.execute("select max(step_at) from marts.fct_ml_features").fetchone()[0]
        fires = con.execute(_readme_query("select household_id, start_at, end_at, round(mean_confidence, 2) "
                                          "as confidence, rules_fired")).fetchall()
        expected = con.execute("select count(*) from marts.fct_classified_anomalies where anomaly_class = 5 "
                               "and end_at > ?::timestamp - interval 1 day", [now]).fetchone()[0]
        assert len(fires) == expected
        homes = con.execute(_readme_query("select household_id, count(*) as anomalies")).fetchall()
        monday = con.execute("select date_trunc('week', ?::timestamp)", [now]).fetchone()[0]
        counts = dict(con.execute("select household_id, count(*) from marts.fct_classified_anomalies "
                                  "where start_at >= ? group by 1", [monday]).fetchall())
        assert [(h, n) for h, n, _ in homes] == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        fridges = con.execute(_readme_query("select household_id, start_at, end_at, round(duration_minutes / 60")).fetchall()
        assert all(hours > 6 for _, _, _, hours, _ in fridges)
        rules = con.execute(_readme_query("select e.rule_name, count(*) as events")).fetchall()
        fired = {r[0] for r in con.execute("select distinct rule_name from marts.fct_anomaly_events "
                                           "where event_kind = 'anomaly'").fetchall()}
        assert {r[0] for r in rules} == fired and fired
        assert all(0 <= rate <= 1 and n >= false for _, n, false, rate in rules)
    finally:
        con.close()
