"""Where the commands put their reports, and how they talk to the user: shared by scripts/cli.py
and scripts/cli_ml.py (and importable from either) without an import cycle between them."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from warehouse.connection import DEFAULT_DB_PATH, REPO_ROOT, resolve_db_path

ENV_REPORTS = "HOMEWATCH_REPORTS_DIR"
CHECKOUT_REPORTS = REPO_ROOT / "reports"  # the default warehouse's reports, where the README points


def reports_dir(db=None, given: str | os.PathLike | None = None) -> Path:
    """Where a command's reports and plots go, for the warehouse `db` (as --db gives it: None is
    $HOMEWATCH_DB, else the default warehouse): `given` (--reports-dir), else
    $HOMEWATCH_REPORTS_DIR, else a reports/ folder next to the warehouse file, so that two
    warehouses never write over each other's reports. The default warehouse
    (warehouse/data/homewatch.duckdb) keeps the checkout's reports/; a warehouse whose own
    folder holds that reports/ (one in the checkout's root) gets reports-<name>/ there instead."""
    if given:
        return Path(given).expanduser()
    if os.environ.get(ENV_REPORTS):
        return Path(os.environ[ENV_REPORTS]).expanduser()
    path = resolve_db_path(db)
    if path == DEFAULT_DB_PATH.resolve():
        return CHECKOUT_REPORTS
    folder = path.parent / "reports"
    return path.parent / f"reports-{path.stem}" if folder == CHECKOUT_REPORTS.resolve() else folder


def reports_of(args) -> Path:
    """reports_dir for a parsed command line (its --db and --reports-dir)."""
    return reports_dir(getattr(args, "db", None), getattr(args, "reports_dir", None))


def add_reports_dir(parser) -> None:
    """The --reports-dir option of a command that writes reports."""
    parser.add_argument("--reports-dir", type=Path, metavar="DIR",
                        help="folder for the reports and plots (default: $HOMEWATCH_REPORTS_DIR, else reports/ next "
                             "to the warehouse file; the default warehouse's are the checkout's reports/)")


def _say(step: str, message: str) -> None:
    print(f"[{step}] {message}", file=sys.stderr, flush=True)
