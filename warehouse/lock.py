"""One pipeline run at a time per warehouse: an advisory lock that a dead process cannot keep.

    with run_lock(db, "batch"):
        ...                       # a second `homewatch batch` exits at once with RunInProgressError

The lock is `flock(2)` on `<warehouse>.lock` next to the database file. The kernel drops it
when the holding process exits for any reason (killed, crashed, machine rebooted), so a
crashed run never leaves it stuck; the file itself may stay behind and means nothing. The
holder's pid, host, job and start time are written into the file for the error message.
Child processes the run starts (dbt) inherit the lock through `held_fds()`, so a dbt left
running by a killed parent still holds it until it exits. flock is local to one machine:
keep the warehouse on a local disk, not NFS.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from warehouse.connection import WarehouseError, resolve_db_path, utcnow

_HELD: dict[Path, int] = {}  # lock file -> fd, for this process


class RunInProgressError(WarehouseError):
    """Another run holds the warehouse's run lock."""

    exit_code = 75  # EX_TEMPFAIL: try again later


def lock_path(db=None) -> Path:
    path = resolve_db_path(db)
    return path.with_name(path.name + ".lock")


def held_fds() -> tuple[int, ...]:
    """File descriptors of the locks this process holds (to pass on to child processes)."""
    return tuple(_HELD.values())


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return (f"`homewatch {info.get('job', '?')}` (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
            f"started {info.get('started_at', '?')} UTC)")


@contextlib.contextmanager
def run_lock(db=None, job: str = "batch") -> Iterator[Path]:
    """Hold the warehouse's run lock for the block; RunInProgressError at once if it is taken.

    Re-entrant within one process (the main job calls the steps that take it too)."""
    path = lock_path(db)
    if path in _HELD:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunInProgressError(
            f"another run is in progress on {resolve_db_path(db)}: {_holder(path)} holds {path}. "
            "This run exits without touching the warehouse; the next scheduled run picks up whatever "
            "is still new."
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"job": job, "pid": os.getpid(), "host": socket.gethostname(),
                                  "started_at": utcnow().isoformat(timespec="seconds")}).encode(), 0)
        _HELD[path] = fd
        yield path
    finally:
        _HELD.pop(path, None)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # releases the lock

