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

# Great Expectations probes for Spark Connect when PySpark is installed (the `spark` extra), and
# pyspark.sql.connect's import-time check, seeing a __main__ without __file__ or __spec__ (a
# `python -c`, a pytest-xdist worker), takes itself for a doctest run and exits the process with
# status 0. Give such a __main__ a name, so importing GX works wherever HomeWatch runs.
def _name_anonymous_main() -> None:
    import sys

    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        main.__file__ = "<homewatch>"


_name_anonymous_main()
