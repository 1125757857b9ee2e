"""Named points where a test can freeze a run to kill it there (fault injection).

    failpoint("score.in_transaction")

does nothing unless $HOMEWATCH_FAILPOINT names that point; then it says so on stderr and
sleeps until the process is killed. Tests use it to kill a job at an exact step
(tests/test_batch.py) and check the warehouse is left as it was.
"""
from __future__ import annotations

import os
import sys
import time

ENV = "HOMEWATCH_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(ENV) != name:
        return
    print(f"failpoint {name} reached: waiting to be killed", file=sys.stderr, flush=True)
    while True:
        time.sleep(60)
