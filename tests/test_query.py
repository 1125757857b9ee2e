"""`homewatch query` is read-only in fact, and a broken or read-only warehouse is one clear line.

Each test makes its own throwaway warehouse with DuckDB in tmp_path (milliseconds): nothing here
needs a simulation or a dbt build.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import sqlite3
import subprocess
import sys

import duckdb
import pytest

from scripts.cli import main
from warehouse.connection import REPO_ROOT, connect, writer

SECRET = "s3cr3t-marker-7f2c"   # in files outside the warehouse: must never reach the output


def _warehouse(path, rows: int = 3):
    """A small warehouse: the HomeWatch schema plus a few readings."""
    with writer(path) as con:
        con.execute("insert into raw.readings select 'flat_1', 'temperature', timestamp '2025-01-01' + "
                    "to_minutes(5 * i), 20 + i, 'b1', timestamp '2025-01-02' from range(?) t(i)", [rows])
    return path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(path, table="raw.readings") -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()


def _one_line_error(err: str, command: str = "query") -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"homewatch {command}: error: ") and "Traceback" not in err, err
    return lines[0]


def _refused(db, sql, capsys) -> str:
    """Run `homewatch query SQL`: it must fail with exit code 2 and one line; return that line."""
    code = main(["query", sql, "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == 2, (sql, out, err)
    assert SECRET not in out + err
    return _one_line_error(err)


@pytest.fixture
def db(tmp_path):
    return _warehouse(tmp_path / "w.duckdb")


@pytest.fixture
def outside(tmp_path):
    """Files outside the warehouse that a query must not read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text(f"name,value\n{SECRET},1\n")
    (folder / "secret.txt").write_text(f"{SECRET}\n")
    con = duckdb.connect()
    con.execute(f"copy (select '{SECRET}' as name) to '{folder / 'secret.parquet'}' (format parquet)")
    con.close()
    return folder


# --- what still works ----------------------------------------------------------------------------


@pytest.mark.parametrize("sql, expected", [
    ("select count(*) as n, round(sum(value)) as total from raw.readings", "63"),
    ("with t as (select value from raw.readings) select max(value) as top from t", "22.0"),
    ("describe raw.readings", "reading_at"),
    ("show all tables", "readings"),
    ("summarize raw.readings", "household_id"),
    ("explain select * from raw.readings", "seq scan"),
    ("select current_setting('TimeZone') as tz", "UTC"),
])
def test_ordinary_reads_still_work(db, capsys, sql, expected):
    assert main(["query", sql, "--db", str(db)]) == 0, capsys.readouterr().err
    assert expected.lower() in capsys.readouterr().out.lower()


def test_csv_output(db, capsys):
    assert main(["query", "select sensor, value from raw.readings order by value", "--csv", "--db", str(db)]) == 0
    assert capsys.readouterr().out.splitlines() == ["sensor,value", "temperature,20.0", "temperature,21.0",
                                                    "temperature,22.0"]


# --- no writes -----------------------------------------------------------------------------------


def test_copy_to_the_warehouse_file_is_refused_and_the_file_is_untouched(db, capsys):
    before = _digest(db)
    line = _refused(db, f"copy (select 1) to '{db}' (format csv)", capsys)
    assert "refused" in line
    assert _digest(db) == before and _count(db) == 3   # byte for byte, and it still opens


@pytest.mark.parametrize("sql", [
    "copy (select * from raw.readings) to '{dir}/out.csv' (format csv)",
    "copy raw.readings to '{dir}/out.parquet' (format parquet)",
    "export database '{dir}/export'",
    "select 1; copy (select 1) to '{dir}/out.csv'",
])
def test_no_statement_writes_a_file(db, tmp_path, capsys, sql):
    target = tmp_path / "elsewhere"
    target.mkdir()
    _refused(db, sql.format(dir=target), capsys)
    assert list(target.iterdir()) == []


def test_attach_another_warehouse_read_write_then_drop_is_refused(db, tmp_path, capsys):
    other = _warehouse(tmp_path / "other.duckdb", rows=2)
    before = _digest(other)
    line = _refused(db, f"attach '{other}' as o (READ_WRITE); drop table o.raw.readings", capsys)
    assert "refused" in line
    _refused(db, f"attach '{other}' as o (READ_WRITE)", capsys)
    _refused(db, f"attach '{other}' as o (READ_ONLY)", capsys)     # no other database, even to read
    assert _count(other) == 2 and _digest(other) == before


@pytest.mark.parametrize("sql", [
    "drop table raw.readings",
    "delete from raw.readings",
    "insert into raw.readings select * from raw.readings",
    "update raw.readings set value = 0",
    "create table raw.x as select 1",
    "create or replace macro m(a) as a",
    "alter table raw.readings add column x int",
])
def test_no_change_to_the_warehouse(db, capsys, sql):
    before = _digest(db)
    assert "read-only" in _refused(db, sql, capsys)
    assert _digest(db) == before and _count(db) == 3


# --- no reading outside the warehouse --------------------------------------------------------------


@pytest.mark.parametrize("sql", [
    "select * from read_csv('/etc/passwd')",
    "select * from read_csv('{dir}/secret.csv')",
    "select * from '{dir}/secret.csv'",
    "from '{dir}/secret.csv'",
    "select * from read_text('{dir}/secret.txt')",
    "select * from read_blob('{dir}/secret.txt')",
    "select * from read_parquet('{dir}/secret.parquet')",
    "select * from read_json('{dir}/secret.txt')",
    "select * from glob('{dir}/*')",
    "select * from sniff_csv('{dir}/secret.csv')",
    "select * from parquet_metadata('{dir}/secret.parquet')",
])
def test_no_file_outside_the_warehouse_is_read(db, outside, capsys, sql):
    _refused(db, sql.format(dir=outside), capsys)   # _refused: the secret is in neither output


# --- no extensions, secrets or settings ------------------------------------------------------------


@pytest.mark.parametrize("sql", [
    "install httpfs",
    "load httpfs",
    "force install json",
    "set enable_external_access = true",
    "reset enable_external_access",
    "set lock_configuration = false",
    "set allowed_directories = ['/']",
    "set disabled_filesystems = ''",
    "pragma enable_profiling",
    "set threads = 1",
    "create secret s (type s3, key_id 'a', secret 'b')",
])
def test_no_install_load_set_or_secret(db, capsys, sql):
    assert "refused" in _refused(db, sql, capsys)


def test_settings_cannot_be_turned_back_on_for_a_later_statement(db, outside, capsys):
    _refused(db, f"set enable_external_access = true; select * from read_csv('{outside}/secret.csv')", capsys)
    _refused(db, f"set lock_configuration = false; set enable_external_access = true; "
                 f"select * from read_csv('{outside}/secret.csv')", capsys)


def test_the_guarantee_is_the_connection_not_the_cli(db, outside):
    """Anything that opens the sandboxed reader gets the same refusals."""
    con = connect(db, read_only=True, sandboxed=True)
    try:
        with pytest.raises(duckdb.PermissionException):
            con.sql(f"select * from read_csv('{outside}/secret.csv')").fetchall()
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            con.execute("set enable_external_access = true")
        assert con.sql("select count(*) from raw.readings").fetchall() == [(3,)]
    finally:
        con.close()
    with pytest.raises(ValueError):
        connect(db, sandboxed=True)   # a sandbox that may write is no sandbox


# --- SQL errors: one line, exit 2 ------------------------------------------------------------------


@pytest.mark.parametrize("sql, says", [
    ("select sensor::int from raw.readings", "Could not convert string 'temperature' to INT32"),
    ("select * from raw.no_such_table", "no_such_table does not exist"),
    ("selec * from raw.readings", 'syntax error at or near "selec"'),
    ("select no_such_column from raw.readings", "no_such_column"),
])
def test_an_sql_error_is_one_line_and_exit_code_2(db, capsys, sql, says):
    line = _refused(db, sql, capsys)
    assert line.startswith("homewatch query: error: the query failed: ") and says in line and "LINE 1" not in line


def test_a_runtime_error_in_a_real_process_prints_no_traceback(db):
    proc = subprocess.run([sys.executable, "-m", "scripts.cli", "query", "select sensor::int from raw.readings",
                           "--db", str(db)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "the query failed: Conversion Error" in _one_line_error(proc.stderr)


# --- a broken warehouse: exit 3, one line, nothing changed ----------------------------------------


def _garbage(path):
    path.write_bytes(bytes(range(256)) * 40)


def _truncated(path):
    """A copy cut off after 16 KiB: DuckDB's headers, not the blocks they point to."""
    _warehouse(path, rows=5000)
    path.write_bytes(path.read_bytes()[:16384])


def _text(path):
    path.write_text("timestamp,temperature\n2025-01-01 00:00:00,21\n")


def _empty(path):
    path.write_bytes(b"")


def _sqlite(path):
    con = sqlite3.connect(path)
    con.execute("create table readings (x)")
    con.commit()
    con.close()


def _folder(path):
    path.mkdir()
    (path / "note.txt").write_text("not a warehouse")


def _snapshot(folder) -> dict:
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


BROKEN = {"garbage bytes": (_garbage, "its first bytes are not a DuckDB header"),
          "truncated": (_truncated, "Could not read enough bytes"),
          "a CSV file": (_text, "it starts with the text 'timestamp,temper'"),
          "empty": (_empty, "it is empty"),
          "a SQLite file": (_sqlite, "it is a SQLite database"),
          "a folder": (_folder, "is a folder, not a DuckDB file")}


@pytest.mark.parametrize("kind", list(BROKEN))
@pytest.mark.parametrize("command", [["query", "select 1"], ["status"], ["ingest", "{csv}"], ["build"], ["batch"],
                                     ["check"], ["simulate", "--households", "1", "--days", "1"]])
def test_a_broken_warehouse_is_one_line_and_exit_code_3(tmp_path, capsys, kind, command):
    make, says = BROKEN[kind]
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "w.duckdb"
    make(path)
    csv = tmp_path / "in.csv"
    csv.write_text("timestamp,temperature\n2025-01-01 00:00:00,21\n")
    before = _snapshot(folder)
    argv = [a.format(csv=csv) for a in command]
    assert main([*argv, "--db", str(path)]) == 3
    line = _one_line_error(capsys.readouterr().err, command[0])
    assert str(path) in line and says in line
    after = _snapshot(folder)
    if kind == "truncated":   # refused by DuckDB, after `batch` took its run lock (empty; it means nothing)
        after.pop(path.relative_to(folder).with_name("w.duckdb.lock"), None)
    assert after == before


def test_a_damaged_block_is_one_line_and_exit_code_3(tmp_path, capsys):
    path = _warehouse(tmp_path / "w.duckdb", rows=20000)
    data = bytearray(path.read_bytes())
    for i in range(12288 + 8, len(data)):   # keep DuckDB's three header blocks, damage every data block
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    before = _digest(path)
    for command in (["query", "select count(*), sum(value) from raw.readings"], ["status"]):
        assert main([*command, "--db", str(path)]) == 3
        line = _one_line_error(capsys.readouterr().err, command[0])
        assert str(path) in line and "Corrupt database file" in line
    assert _digest(path) == before


def test_a_warehouse_cut_off_inside_its_data_is_one_line_and_exit_code_3(tmp_path, capsys):
    """The catalog survives the cut, so DuckDB opens the file; the error comes when a query reads
    the missing blocks."""
    path = _warehouse(tmp_path / "w.duckdb", rows=5000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = _digest(path)
    assert main(["query", "select sum(value) from raw.readings", "--db", str(path)]) == 3
    line = _one_line_error(capsys.readouterr().err)
    assert str(path) in line and "Could not read enough bytes" in line
    assert _digest(path) == before


def test_a_duckdb_file_that_is_no_warehouse_is_one_line_with_a_debug_hint(tmp_path, capsys, monkeypatch):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table t as select 1 as x")
    con.close()
    monkeypatch.delenv("HOMEWATCH_DEBUG", raising=False)
    assert main(["status", "--db", str(path)]) == 2     # an unexpected DuckDB error, not a traceback
    line = _one_line_error(capsys.readouterr().err, "status")
    assert "raw.readings" in line and "HOMEWATCH_DEBUG=1" in line
    monkeypatch.setenv("HOMEWATCH_DEBUG", "1")
    with pytest.raises(duckdb.CatalogException):
        main(["status", "--db", str(path)])


# --- a read-only warehouse: exit 4 for the commands that write, reads still work ------------------


def _without_root_powers():
    """In the child: drop the capabilities that let root write any file, so permissions count."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):   # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:   # PR_CAPBSET_DROP: gone after exec
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _cli(*args) -> subprocess.CompletedProcess:
    """`homewatch ARGS` in a child process that file permissions apply to, even when tests run as root."""
    preexec = _without_root_powers if os.geteuid() == 0 else None
    try:
        return subprocess.run([sys.executable, "-m", "scripts.cli", *map(str, args)], capture_output=True,
                              text=True, cwd=REPO_ROOT, timeout=120, preexec_fn=preexec,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "HOMEWATCH_DB_WAIT_S": "1"})
    except subprocess.SubprocessError as exc:
        if "prctl" in str(exc) or "Exception occurred in preexec_fn" in str(exc):
            pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE here: {exc}")
        raise


@pytest.fixture
def read_only(tmp_path):
    """A warehouse in a folder, plus a CSV to ingest; restores write permission afterwards."""
    folder = tmp_path / "data"
    folder.mkdir()
    path = _warehouse(folder / "w.duckdb")
    csv = tmp_path / "in.csv"
    csv.write_text("timestamp,temperature\n2025-01-01 00:00:00,21\n")
    yield path, csv
    folder.chmod(0o755)
    path.chmod(0o644)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_warehouse_is_one_line_and_exit_code_4_for_writing_commands(read_only, what):
    path, csv = read_only
    (path if what == "file" else path.parent).chmod(0o444 if what == "file" else 0o555)
    before = _snapshot(path.parent)
    for command in (["batch"], ["ingest", csv], ["build"], ["simulate", "--households", "1", "--days", "1"]):
        proc = _cli(*command, "--db", path)
        assert proc.returncode == 4, (command, proc.stderr)
        line = _one_line_error(proc.stderr, command[0])
        assert str(path if what == "file" else path.parent) in line and "write" in line
    after = _snapshot(path.parent)
    after.pop(path.with_name("w.duckdb.lock").relative_to(path.parent), None)   # the run lock (file case)
    assert after == before
    proc = _cli("query", "select count(*) * 1000 + 7 as n from raw.readings", "--csv", "--db", path)
    assert (proc.returncode, proc.stdout) == (0, "n\n3007\n"), proc.stderr   # reading still works
    proc = _cli("status", "--db", path)
    assert proc.returncode == 0 and "raw.readings" in proc.stdout and " 3 rows" in proc.stdout, proc.stderr


def test_the_exit_codes_are_documented():
    from warehouse.errors import EXIT_CODES

    doc = (REPO_ROOT / "docs" / "warehouse.md").read_text()
    table = doc[doc.index("## Exit codes"):]
    documented = {int(line.split("|")[1]) for line in table.splitlines() if line.startswith("| ") and
                  line.split("|")[1].strip().isdigit()}
    assert documented == set(EXIT_CODES)
