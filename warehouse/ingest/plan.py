"""Check and describe each file before the warehouse is opened.

Everything here runs before anything is written: a file that is missing, unreadable,
empty, not CSV/Parquet or without a timestamp column raises IngestError, so a bad file
in a call leaves the warehouse as it was. What is learned (format, delimiter, encoding,
layout, which column plays which role, content hash) goes into a _Plan for the load.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from warehouse.connection import WarehouseError
from warehouse.ingest.sql import _lit, _read_csv

TIMESTAMP_NAMES = ("timestamp", "reading_at", "time", "datetime", "date_time", "date", "ts", "time_stamp")
HOUSEHOLD_NAMES = ("household", "household_id", "home", "home_id", "house")
SENSOR_NAMES = ("sensor", "sensor_name", "sensor_id", "metric", "variable")
VALUE_NAMES = ("value", "reading", "val", "measurement")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (";", "\t", ",", "|")  # ties in the header go to the earlier one


class IngestError(WarehouseError):
    """A file cannot be ingested; nothing was written."""


@dataclasses.dataclass
class _Plan:
    """What validation learned about one file; columns are staged as c0..cN."""

    given: str
    path: Path
    fmt: str  # 'csv' or 'parquet'
    names: list[str]  # column names as in the file
    types: list[str]  # DuckDB types ('VARCHAR' for every CSV column)
    delimiter: str | None = None  # CSV only
    encoding: str = "utf-8"  # CSV only
    layout: str = ""  # 'long' or 'wide'
    ts: int = -1
    household: int | None = None
    sensor: int | None = None  # long layout
    value: int | None = None  # long layout
    sensor_cols: list[int] = dataclasses.field(default_factory=list)  # wide layout
    content_hash: str = ""
    size: int = 0  # bytes on disk, for progress messages
    lines: int | None = None  # physical lines in a plain CSV, for exact line numbers
    row_base: int = 0  # rowid of the first staged CSV row

    @property
    def batch_id(self) -> str:
        return f"file-{self.content_hash[:12]}"


def normalise_name(name: str) -> str:
    """Lower-case; runs of anything but [a-z0-9] become '_'; no leading or trailing '_'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _stem(path: Path) -> str:
    """The file name without its data suffixes: the default household of a file."""
    name = path.name
    for suffix in (".gz", *PARQUET_SUFFIXES, ".csv", ".tsv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or path.name


def _delimiter_option(delimiter: str | None) -> str | None:
    """The one-character delimiter a user option names ('tab', ';', ...); None to detect it."""
    if delimiter is None:
        return None
    delimiter = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ","}.get(delimiter.lower(), delimiter)
    if len(delimiter) != 1:
        raise IngestError(f"the delimiter must be one character (or 'tab'), got {delimiter!r}")
    return delimiter


def _plan(given, timestamp_column: str | None, delimiter: str | None) -> _Plan:
    """Check one file and describe it, or raise IngestError naming the file and the problem."""
    path = Path(given).expanduser().resolve()
    label = str(given)
    if not path.exists():
        raise IngestError(f"{label}: no such file")
    if not path.is_file():
        raise IngestError(f"{label}: not a file")
    try:
        content_hash, newlines, last = _hash_file(path)
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"{label}: cannot be read: {exc.strerror or exc}") from exc
    if newlines is None and last is None:
        raise IngestError(f"{label}: the file has no data rows (it is empty: 0 bytes)")
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        plan = _plan_parquet(label, path)
    else:
        plan = _plan_csv(label, path, delimiter)
        if not path.name.lower().endswith(".gz"):
            plan.lines = newlines + (last != b"\n")
    plan.content_hash, plan.size = content_hash, size
    _assign_roles(plan, timestamp_column)
    return plan


def _hash_file(path: Path) -> tuple[str, int | None, bytes | None]:
    """sha256 of the bytes, the count of b'\\n' and the last byte (None, None for 0 bytes)."""
    digest, newlines, last = hashlib.sha256(), 0, None
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), (newlines if last is not None else None), last


def _plan_csv(label: str, path: Path, delimiter: str | None) -> _Plan:
    """Read the header: encoding, delimiter (detected unless given) and column names."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            header_bytes = fh.readline(1 << 20)
            has_data = any(line.strip() for line in fh)
    except (OSError, EOFError) as exc:
        raise IngestError(f"{label}: cannot be read as CSV: {exc}") from exc
    encoding = "utf-8"
    try:
        header = header_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding, header = "latin-1", header_bytes.decode("latin-1")
    if "\x00" in header:
        raise IngestError(f"{label}: cannot be read as CSV: it holds binary data, not text")
    header = header.rstrip("\r\n")
    if not header.strip():
        raise IngestError(f"{label}: cannot be read as CSV: the first line is empty; it must be the header")
    if not has_data:
        raise IngestError(f"{label}: the file has no data rows (only a header)")
    delim = delimiter or max(DELIMITERS, key=lambda d: (header.count(d), -DELIMITERS.index(d)))
    if delimiter is None and header.count(delim) == 0:
        delim = ","
    names = [n.strip() for n in next(csv.reader([header], delimiter=delim))]
    names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    return _Plan(label, path, "csv", names, ["VARCHAR"] * len(names), delimiter=delim, encoding=encoding)


def _plan_parquet(label: str, path: Path) -> _Plan:
    """Column names and DuckDB types from the Parquet schema."""
    con = duckdb.connect()
    try:
        described = con.execute(f"describe select * from read_parquet({_lit(str(path))})").fetchall()
        rows = con.execute(f"select count(*) from read_parquet({_lit(str(path))})").fetchone()[0]
    except duckdb.Error as exc:
        raise IngestError(f"{label}: cannot be read as Parquet: {exc}") from exc
    finally:
        con.close()
    if rows == 0:
        raise IngestError(f"{label}: the file has no data rows")
    return _Plan(label, path, "parquet", [d[0] for d in described], [d[1] for d in described])


def _find(names: list[str], candidates: Iterable[str], skip: set[int] = frozenset()) -> int | None:
    """Index of the first column whose normalised name is a candidate (earlier candidates win)."""
    keys = [normalise_name(n) for n in names]
    for cand in candidates:
        for i, key in enumerate(keys):
            if i not in skip and key == cand:
                return i
    return None


def _assign_roles(plan: _Plan, timestamp_column: str | None) -> None:
    """Pick the timestamp, household, sensor and value columns, and so the layout.

    A file with both a sensor and a value column is long (one reading per row); otherwise
    it is wide, and every column without a role is one sensor.
    """
    names = plan.names
    ts = plan.ts = _timestamp_column(plan, timestamp_column)
    plan.household = _find(names, HOUSEHOLD_NAMES, {ts})
    taken = {ts} | ({plan.household} if plan.household is not None else set())
    plan.sensor = _find(names, SENSOR_NAMES, taken)
    plan.value = _find(names, VALUE_NAMES, taken | {plan.sensor})
    if plan.sensor is not None and plan.value is not None:
        plan.layout = "long"
        return
    plan.layout, plan.sensor, plan.value = "wide", None, None
    plan.sensor_cols = [i for i in range(len(names)) if i not in taken]
    if not plan.sensor_cols:
        raise IngestError(
            f"{plan.given}: no sensor columns: a long file needs a sensor and a value column, "
            f"a wide file one column per sensor (columns: {', '.join(names)})")


def _timestamp_column(plan: _Plan, timestamp_column: str | None) -> int:
    """Index of the named timestamp column (exact, then normalised), else of a well-known name."""
    names = plan.names
    if timestamp_column:
        wanted = timestamp_column.strip().lower()
        ts = next((i for i, n in enumerate(names) if n.lower() == wanted), None)
        if ts is None:
            ts = _find(names, [normalise_name(timestamp_column)])
        if ts is None:
            raise IngestError(
                f"{plan.given}: no column named {timestamp_column!r} (columns: {', '.join(names)})")
        return ts
    ts = _find(names, TIMESTAMP_NAMES)
    if ts is None:
        raise IngestError(
            f"{plan.given}: no timestamp column found (looked for: {', '.join(TIMESTAMP_NAMES)}); "
            "name it with --timestamp-column")
    return ts


def _probe(plans: list[_Plan], fmt: str | None) -> None:
    """Let DuckDB open each CSV with the options the load will use (gzip, encoding), and try the format."""
    con = duckdb.connect()
    try:
        if fmt:
            try:
                con.execute("select try_strptime('2000-01-01', ?)", [fmt]).fetchall()
            except duckdb.Error as exc:
                raise IngestError(f"invalid timestamp format {fmt!r}: {exc}") from exc
        for plan in plans:
            if plan.fmt != "csv":
                continue
            try:
                con.execute(f"select * from {_read_csv(plan, rejects=False)} limit 1").fetchall()
            except duckdb.Error as exc:
                raise IngestError(f"{plan.given}: cannot be read as CSV: {exc}") from exc
    finally:
        con.close()
