"""Check and describe each file before the warehouse is opened.

Everything here runs before anything is written: a file that is missing, unreadable,
empty, not CSV/Parquet or without a timestamp column raises IngestError, so a bad file
in a call leaves the warehouse as it was. What is learned (format, delimiter, encoding,
layout, which column plays which role, content hash) goes into a _Plan for the load.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb

from warehouse.ingest.sniff import _KIND_TEXT, _REFUSED, _sniff
from warehouse.ingest.sql import _lit, _read_csv

TIMESTAMP_NAMES = ("timestamp", "reading_at", "time", "datetime", "date_time", "date", "ts", "time_stamp")
HOUSEHOLD_NAMES = ("household", "household_id", "home", "home_id", "house")
SENSOR_NAMES = ("sensor", "sensor_name", "sensor_id", "metric", "variable")
VALUE_NAMES = ("value", "reading", "val", "measurement")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (";", "\t", ",", "|")  # ties in the header go to the earlier one


EPOCH_FORMATS = {"epoch_s": "epoch_s", "epoch": "epoch_s", "%s": "epoch_s", "epoch_ms": "epoch_ms"}

from warehouse.ingest.model import (  # noqa: E402,F401  (re-exported: the plan's vocabulary)
    DEFAULT_EARLIEST, DEFAULT_FUTURE_HOURS, DEFAULT_MAX_QUARANTINED, EARLIEST_ENV, FUTURE_ENV, SHARE_ENV,
    IngestError, Limits, _Plan, normalise_name)


def _key(plan: _Plan, fmt: str | None, household: str | None, column_map: Mapping[str, str],
         limits: Limits, entities: str | None = None) -> str:
    """The idempotency key: the bytes and every option that changes what they load as.

    Options are taken as resolved (the delimiter found, the timestamp column chosen), so
    naming the detected value adds nothing; a different format, household or map does.
    """
    used_map = {k: v for k, v in sorted(column_map.items())
                if plan.layout in ("long", "homeassistant") or k in {n.strip().lower() for n in plan.names}}
    options = {"delimiter": plan.delimiter, "timestamp_column": plan.ts, "timestamp_format": fmt,
               "household": household if plan.household is None else None, "map": used_map,
               "earliest": str(limits.earliest), "future_hours": limits.future_hours}
    if plan.layout == "homeassistant":
        options["entities"] = entities  # the --entities file, as it reads (homeassistant.rules_key)
    return hashlib.sha256((plan.content_hash + json.dumps(options, sort_keys=True)).encode()).hexdigest()


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


def _plan(given, timestamp_column: str | None, delimiter: str | None,
          column_map: Mapping[str, str] | None = None) -> _Plan:
    """Check one file and describe it, or raise IngestError naming the file and the problem.

    What the bytes are decides how the file is read, not its name: gzip is decompressed,
    Parquet read as Parquet, UTF-16 read as such; archives, databases and other binary
    files are refused with a message saying what they look like.
    """
    path = Path(given).expanduser().resolve()
    label = str(given)
    if not path.exists():
        raise IngestError(f"{label}: no such file")
    if not path.is_file():
        raise IngestError(f"{label}: not a file")
    if _is_sqlite(path):
        from warehouse.ingest.recorder import plan_recorder

        return plan_recorder(label, path)
    try:
        content_hash, newlines, last = _hash_file(path)
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise IngestError(f"{label}: cannot be read: {exc.strerror or exc}") from exc
    if newlines is None and last is None:
        raise IngestError(f"{label}: the file has no data rows (it is empty: 0 bytes)")
    kind = _sniff(head)
    named_parquet = path.name.lower().endswith(PARQUET_SUFFIXES)
    if named_parquet and kind != "parquet":
        raise IngestError(f"{label}: cannot be read as Parquet: it does not start with the Parquet marker PAR1 "
                          f"(it looks like {_KIND_TEXT.get(kind, kind)})")
    if kind == "parquet":
        plan = _plan_parquet(label, path)
    elif kind in ("text", "gzip", "utf-16"):
        plan = _plan_csv(label, path, delimiter, kind)
        if kind == "text":
            plan.lines = newlines + (last != b"\n")
    else:
        raise IngestError(f"{label}: cannot be read as CSV: {_REFUSED[kind]}; nothing was loaded from it")
    plan.content_hash, plan.size = content_hash, size
    _assign_roles(plan, timestamp_column)
    if plan.layout == "wide":
        _name_sensors(plan, column_map or {})
    return plan


def _is_sqlite(path: Path) -> bool:
    """Whether the file starts like a SQLite database (read by recorder.py, or refused there)."""
    try:
        with path.open("rb") as fh:
            return _sniff(fh.read(16)) == "sqlite"
    except OSError:
        return False  # _plan says why it cannot be read


def _hash_file(path: Path) -> tuple[str, int | None, bytes | None]:
    """sha256 of the bytes, the count of b'\\n' and the last byte (None, None for 0 bytes)."""
    digest, newlines, last = hashlib.sha256(), 0, None
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), (newlines if last is not None else None), last


def _plan_csv(label: str, path: Path, delimiter: str | None, kind: str = "text") -> _Plan:
    """Read the header: encoding, delimiter (detected unless given) and column names."""
    opener = gzip.open if kind == "gzip" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(1 << 20)
    except (OSError, EOFError) as exc:
        raise IngestError(f"{label}: cannot be read as CSV ({_KIND_TEXT[kind]}): {exc}") from exc
    inner = _sniff(head) if kind == "gzip" else kind
    if inner != "text" and kind == "gzip":
        raise IngestError(f"{label}: cannot be read as CSV: it is a gzip-compressed file holding {_KIND_TEXT[inner]}; "
                          "decompress it (gunzip) and ingest what it holds")
    encoding = "utf-8"
    if kind == "utf-16":
        encoding, text = "utf-16", head.decode("utf-16-le", errors="replace").lstrip("\ufeff")
    else:
        try:
            text = head.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut at the end of the chunk
                encoding = "latin-1"
            text = head[: exc.start].decode("utf-8-sig") if encoding == "utf-8" else head.decode("latin-1")
    header, rest = (re.split(r"\r\n|\n|\r", text, maxsplit=1) + [""])[:2]  # old Macs end lines with \r
    if not header.strip():
        raise IngestError(f"{label}: cannot be read as CSV: the first line is empty; it must be the header")
    if not rest.strip() and not _has_data_after(path, opener, len(head)):
        raise IngestError(f"{label}: the file has no data rows (only a header)")
    delim = delimiter or max(DELIMITERS, key=lambda d: (header.count(d), -DELIMITERS.index(d)))
    if delimiter is None and header.count(delim) == 0:
        delim = ","
    try:
        names = [n.strip() for n in next(csv.reader([header], delimiter=delim))]
    except csv.Error as exc:
        raise IngestError(f"{label}: cannot be read as CSV: the header line is not CSV ({exc})") from exc
    names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    plan = _Plan(label, path, "csv", names, ["VARCHAR"] * len(names), delimiter=delim, encoding=encoding)
    plan.compression = "gzip" if kind == "gzip" else None
    plan.note = {"gzip": "gzip-compressed", "utf-16": "UTF-16"}.get(kind, "")
    return plan


def _has_data_after(path: Path, opener, offset: int) -> bool:
    """Whether anything but whitespace follows the first `offset` bytes (of the decompressed file)."""
    with opener(path, "rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(1 << 20):
            if chunk.strip(b" \t\r\n\x00"):
                return True
    return False


def _plan_parquet(label: str, path: Path) -> _Plan:
    """Column names and DuckDB types from the Parquet schema."""
    con = duckdb.connect()
    try:
        described = con.execute(f"describe select * from read_parquet({_lit(str(path))})").fetchall()
        rows = con.execute(f"select count(*) from read_parquet({_lit(str(path))})").fetchone()[0]
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        starts = "" if path.name.lower().endswith(PARQUET_SUFFIXES) else "it starts like a Parquet file (PAR1) but "
        raise IngestError(f"{label}: cannot be read as Parquet: {starts}DuckDB says: {first}") from exc
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
    from warehouse.ingest.homeassistant import history_roles

    roles = history_roles(names)
    named = (timestamp_column or "").strip().lower()
    keys = [n.strip().lower() for n in names]
    if roles is not None and (not named or (named in ("last_changed", "last_updated") and named in keys)):
        plan.layout = "homeassistant"
        plan.sensor, plan.value, plan.ts = roles
        if named:
            plan.ts = keys.index(named)
        return
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


def _name_sensors(plan: _Plan, column_map: Mapping[str, str]) -> None:
    """The stored sensor name of each wide column (mapped, normalised); two columns that would
    become one sensor are refused, naming both."""
    names, seen = [], {}
    for i in plan.sensor_cols:
        original = plan.names[i]
        name = normalise_name(column_map.get(original.strip().lower(), original)) or f"column_{i + 1}"
        if name in seen:
            first = plan.names[seen[name]]
            raise IngestError(
                f"{plan.given}: columns {first!r} and {original!r} would both become sensor {name!r}; "
                f"rename one with --map, e.g. --map '{original}={name}_2', or remove one from the file")
        seen[name] = i
        names.append(name)
    plan.sensor_names = names


def _check_map(plans: list[_Plan], column_map: Mapping[str, str], long_sensors: dict[str, list[str]]) -> None:
    """Every --map source must name a column of a wide file or a sensor of a long file of the call.

    long_sensors: the distinct sensor cells of each long file (by its label), read at load time.
    """
    wide = {n.strip().lower() for p in plans if p.layout == "wide" for n in p.names}
    long = {s.strip().lower() for sensors in long_sensors.values() for s in sensors}
    missing = [src for src in column_map if src not in wide and src not in long]
    if not missing:
        return
    found = []
    for p in plans:
        if p.layout == "wide":
            found.append(f"{p.given} columns: {', '.join(p.names)}")
        else:
            sensors = long_sensors.get(p.given, [])
            more = f" and {len(sensors) - 30} more" if len(sensors) > 30 else ""
            found.append(f"{p.given} sensors: {', '.join(sensors[:30])}{more}")
    raise IngestError(f"--map {', '.join(repr(m) for m in missing)}: no such column (wide file) or sensor "
                      f"(long file) in {'; '.join(found)}; nothing was loaded")


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


def _timestamp_format(fmt: str | None) -> str | None:
    """The --timestamp-format as the load uses it: 'epoch_s' / 'epoch_ms' for numbers, else strptime."""
    if fmt is None or not fmt.strip():
        return None
    if fmt.strip().lower() in EPOCH_FORMATS:
        return EPOCH_FORMATS[fmt.strip().lower()]
    if "%s" in fmt:
        raise IngestError(f"invalid timestamp format {fmt!r}: '%s' (seconds since 1970) can only be the whole "
                          "format; use --timestamp-format epoch_s (or epoch_ms for milliseconds)")
    return fmt


def _probe(plans: list[_Plan], fmt: str | None) -> None:
    """Let DuckDB open each CSV with the options the load will use (gzip, encoding), and try the format."""
    con = duckdb.connect()
    try:
        if fmt and not fmt.startswith("epoch_"):
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
