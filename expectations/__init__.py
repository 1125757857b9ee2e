"""Data quality and drift: Great Expectations suites on bounded frames of each new batch.

- config.py       every threshold and severity, in one place
- suites.py       the suites, written as code (imports Great Expectations: only `check` loads it)
- profiles.py, model_frames.py, reference.py   the SQL that bounds each suite's input
- check.py        `homewatch check`: validate a batch, store dq.*, write the report
- gate.py         `require_passed(con, batch_id, force=False)` for the scoring step
- report.py, svg.py   the offline HTML report

See docs/quality.md.
"""
import os

# Great Expectations must never try the network (no analytics events): set before it is imported.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
