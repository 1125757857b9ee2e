"""The dbt project's vars (dbt_project/dbt_project.yml `vars:`), read in one place.

Python code that must agree with a dbt threshold (the quality checks' stuck run, the warm-up,
the classifier's event bridging) reads it here instead of copying the number. A leaf module:
it imports nothing from the project. Values are the project defaults; a `--vars` override on
one dbt command does not reach them.
"""
from __future__ import annotations

import functools
from pathlib import Path

import yaml

DBT_PROJECT_FILE = Path(__file__).resolve().parents[1] / "dbt_project" / "dbt_project.yml"


@functools.cache
def dbt_vars() -> dict:
    """Every var of the dbt project, as dbt_project.yml sets it."""
    return yaml.safe_load(DBT_PROJECT_FILE.read_text())["vars"]


def dbt_var(name: str):
    """One var of the dbt project; KeyError names it if dbt_project.yml has no such var."""
    try:
        return dbt_vars()[name]
    except KeyError:
        raise KeyError(f"dbt_project.yml has no var {name!r}") from None
