"""The Spark side of a warehouse from Python: a Spark session on its catalog, and `homewatch
query --target spark`, read-only (docs/scale-out.md).

The session is configured from the spark target in dbt_project/profiles.yml (one place for the
warehouse folder, the catalog and the settings), with $HOMEWATCH_SPARK_DIR set to the
warehouse's `<file>.spark/` folder, so Python and dbt see the same tables.

Read-only on Spark: DuckDB opens a file read-only and refuses every write itself; Spark has no
such mode (a session that can read the catalog can write it), so the statement is checked
before anything runs. Spark's own parser parses it (one statement) and it must be a query, or
one of SHOW / DESCRIBE / EXPLAIN: any other command (INSERT, CREATE, DROP, ALTER, SET, CACHE,
ADD JAR, REFRESH, MSCK ...) is refused, anywhere in the plan (a multi-insert hides its inserts
below a union), as is what a query can do beyond reading the catalog's
tables: running a program (SELECT TRANSFORM ... USING), calling Java (reflect, java_method,
try_reflect), and reading files by path (`parquet.`/path``: spark.sql.runSQLOnFiles is off in
the query's session). Commands run eagerly in spark.sql(), so the check happens on the parsed
plan, before the statement is handed to Spark.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import yaml

from warehouse.connection import REPO_ROOT, QueryError, WarehouseError, require_warehouse

PROFILES = REPO_ROOT / "dbt_project" / "profiles.yml"
_ENV_VAR = re.compile(r"\{\{\s*env_var\('([A-Z_]+)'(?:,\s*'([^']*)')?\)\s*\}\}")
_ALLOWED_COMMANDS = {"ShowTables", "ShowTablesExtended", "ShowNamespaces", "ShowColumns", "ShowViews",
                     "ShowPartitions", "ShowCreateTable", "ShowTableProperties", "DescribeRelation",
                     "DescribeColumn", "DescribeNamespace", "ExplainCommand"}
_NODE = re.compile(r"^[\s:+\-|]*'?([A-Za-z][A-Za-z0-9]*)")
_WRITING_NODE = re.compile(r"Command$|Statement$|Insert|Write|Overwrite|Merge|Delete|Update|Replace|Append")
_FORBIDDEN = re.compile(r"ScriptTransformation|'(reflect|java_method|try_reflect)\(", re.IGNORECASE)


class SparkUnavailableError(WarehouseError):
    """pyspark or Java is missing."""


def require_spark() -> None:
    """Raise SparkUnavailableError, saying how to install it, when the spark extra is missing."""
    import importlib.util

    missing = [name for name in ("pyspark", "dbt.adapters.spark") if importlib.util.find_spec(name) is None]
    if missing:
        raise SparkUnavailableError(f"the Spark target needs {' and '.join(missing)}: run `make spark` (or pip "
                                    "install -e '.[spark]'); see docs/scale-out.md")


def spark_conf(db=None) -> dict[str, str]:
    """The spark target's session settings (profiles.yml) for this warehouse."""
    spark_dir = f"{require_warehouse(db)}.spark"
    profile = yaml.safe_load(PROFILES.read_text())["homewatch"]["outputs"]["spark"]
    env = {**os.environ, "HOMEWATCH_SPARK_DIR": spark_dir}

    def render(value) -> str:
        return _ENV_VAR.sub(lambda m: env.get(m.group(1), m.group(2) or ""), str(value))

    return {key: render(value) for key, value in profile["server_side_parameters"].items()}


def spark_session(db=None):
    """A Spark session on this warehouse's Spark side (the one of this process if it has one:
    Spark allows one per process, and its catalog is the warehouse it was opened on)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailableError("the Spark target needs pyspark: run `make spark` (or pip install -e '.[spark]'); "
                                    "see docs/scale-out.md") from None
    active = SparkSession.getActiveSession()
    conf = spark_conf(db)
    if active is not None:
        if active.conf.get("spark.sql.warehouse.dir", None) != conf["spark.sql.warehouse.dir"] and \
                Path(active.conf.get("spark.sql.warehouse.dir").removeprefix("file:")) != Path(conf["spark.sql.warehouse.dir"]):
            raise WarehouseError("this process already has a Spark session on another warehouse "
                                 f"({active.conf.get('spark.sql.warehouse.dir')}); Spark allows one per process")
        return active
    # the Python workers (mapInPandas) run this environment's Python, with its packages
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("homewatch").enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        return spark
    except Exception as exc:   # noqa: BLE001 - no Java, a held catalog: one line says which
        raise SparkUnavailableError(f"could not start Spark ({str(exc).strip().splitlines()[0]}); it needs Java 17 "
                                    "(`make spark` installs it) and a catalog no other Spark process holds") from None


def check_read_only(spark, sql: str) -> None:
    """Refuse anything but a read (see the module doc); raise QueryError saying why."""
    try:
        plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
    except Exception as exc:  # noqa: BLE001 - py4j wraps Spark's ParseException
        raise QueryError(f"Spark could not parse the statement: {_first_line(exc)}") from None
    name = plan.getClass().getSimpleName()
    command = spark._jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    if command.isInstance(plan) and name not in _ALLOWED_COMMANDS:
        raise QueryError(f"`homewatch query --target spark` is read-only: {name} is not a query (SELECT, "
                         "SHOW, DESCRIBE or EXPLAIN)")
    tree = plan.treeString()
    nodes = [m.group(1) for m in map(_NODE.match, tree.splitlines()) if m]
    # a write can hide below the root (FROM t INSERT INTO a ... INSERT INTO b: a Union of inserts)
    writing = [n for n in nodes[1:] if _WRITING_NODE.search(n)] + \
        ([nodes[0]] if nodes and _WRITING_NODE.search(nodes[0]) and nodes[0] not in _ALLOWED_COMMANDS else [])
    if writing:
        raise QueryError(f"`homewatch query --target spark` is read-only: {writing[0]} writes and is refused")
    found = _FORBIDDEN.search(tree)
    if found:
        raise QueryError(f"`homewatch query --target spark` is read-only: {found.group(0).strip(chr(39) + '(')} "
                         "runs code outside the query and is refused")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip() and not line.startswith(("An error occurred", ": org.apache")):
            return line.strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_read_only(db, sql: str):
    """The statement's rows as a pandas DataFrame, after check_read_only."""
    spark = spark_session(db).newSession()   # its own SQL settings, the same catalog
    spark.conf.set("spark.sql.runSQLOnFiles", "false")
    check_read_only(spark, sql)
    try:
        return spark.sql(sql).toPandas()
    except Exception as exc:  # noqa: BLE001 - Spark's AnalysisException and friends
        raise QueryError(f"Spark refused the query: {_first_line(exc)}") from None


def query_spark(db, sql: str, *, csv: bool = False, max_rows: int = 40) -> int:
    """`homewatch query --target spark`: print the rows (a table, or CSV)."""
    frame = run_read_only(db, sql)
    if csv:
        frame.to_csv(sys.stdout, index=False)
    else:
        with __import__("pandas").option_context("display.max_rows", max_rows, "display.width", 200):
            print(frame.to_string(max_rows=max_rows, index=False))
    return 0
