"""Where the commands put their reports, and how they talk to the user: shared by scripts/cli.py
and scripts/cli_ml.py (and importable from either) without an import cycle between them."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from warehouse.connection import REPO_ROOT


def reports_dir() -> Path:
    """Where reports and plots go: $HOMEWATCH_REPORTS_DIR, else reports/ in the repo."""
    return Path(os.environ.get("HOMEWATCH_REPORTS_DIR") or REPO_ROOT / "reports")


def _say(step: str, message: str) -> None:
    print(f"[{step}] {message}", file=sys.stderr, flush=True)
