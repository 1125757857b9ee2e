"""File ingest: layouts, formats, timestamps, quarantine, idempotence and all-or-nothing checks."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import duckdb
import pytest

from warehouse.connection import reader, writer
from warehouse.ingest import IngestError, ingest_files

T0 = dt.datetime(2024, 1, 1)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "w.duckdb"


def write(path, text: str):
    path.write_text(text)
    return path


def query(db, sql: str, params=None) -> list[tuple]:
    with reader(db) as con:
        return con.execute(sql, params or []).fetchall()


def readings(db) -> list[tuple]:
    return query(db, "select household_id, sensor, reading_at, value from raw.readings order by all")


def quarantine(db) -> list[tuple]:
    return query(db, "select line_number, household_id, raw_record, reason from raw.quarantine order by line_number")


def snapshot(db) -> dict:
    """Every row of every raw table this module writes."""
    return {t: query(db, f"select * from raw.{t} order by all")
            for t in ("readings", "households", "quarantine", "batches")}


LONG_CSV = (
    "timestamp,household,sensor,value\n"
    "2024-01-01 00:00:00,h1,temperature,21.5\n"
    "2024-01-01 00:00:00,h1,humidity,40\n"
    "2024-01-01 00:05:00,h2,temperature,19.25\n"
    "2024-01-01 00:05:00,h2,humidity,-3e-1\n"
)


# ---------------------------------------------------------------- layouts and formats


def test_long_csv_loads_every_reading_and_records_the_batch(tmp_path, db):
    src = write(tmp_path / "long.csv", LONG_CSV)
    [res] = ingest_files([src], db=db)
    assert (res.rows_loaded, res.rows_quarantined, res.skipped, res.layout) == (4, 0, False, "long")
    assert res.households == ("h1", "h2") and res.sensors == ("humidity", "temperature")
    assert res.batch_id.startswith("file-") and len(res.batch_id) == 17
    assert readings(db) == [
        ("h1", "humidity", T0, 40.0), ("h1", "temperature", T0, 21.5),
        ("h2", "humidity", T0 + dt.timedelta(minutes=5), -0.3),
        ("h2", "temperature", T0 + dt.timedelta(minutes=5), 19.25),
    ]
    [batch] = query(db, "select batch_id, source, source_ref, rows_loaded, rows_quarantined, households, "
                        "min_reading_at, max_reading_at, status, details from raw.batches")
    assert batch[:9] == (res.batch_id, "file", str(src.resolve()), 4, 0, 2, T0,
                         T0 + dt.timedelta(minutes=5), "loaded")
    details = json.loads(batch[9])
    assert details["layout"] == "long" and details["delimiter"] == "," and details["timestamp_column"] == "timestamp"
    assert query(db, "select household_id, source, timezone, profile, batch_id from raw.households order by 1") == [
        ("h1", "file", "UTC", None, res.batch_id), ("h2", "file", "UTC", None, res.batch_id)]
    assert query(db, "select count(distinct ingested_at), count(distinct batch_id) from raw.readings") == [(1, 1)]


def test_wide_csv_unpivots_and_treats_empty_cells_as_missing(tmp_path, db):
    src = write(tmp_path / "wide.csv", (
        "Timestamp,Temperature,Humidity (%),CO2\n"
        "2024-01-01T00:00:00,21.5,40,\n"
        "2024-01-01T00:00:10,,41,\n"
        "2024-01-01T00:01:00,22,,600\n"
    ))
    [res] = ingest_files([src], db=db)
    assert (res.layout, res.rows_loaded, res.rows_quarantined) == ("wide", 5, 0)
    assert res.sensors == ("co2", "humidity", "temperature")
    s = dt.timedelta(seconds=1)
    assert readings(db) == [
        ("wide", "co2", T0 + 60 * s, 600.0),
        ("wide", "humidity", T0, 40.0), ("wide", "humidity", T0 + 10 * s, 41.0),
        ("wide", "temperature", T0, 21.5), ("wide", "temperature", T0 + 60 * s, 22.0),
    ]
    assert quarantine(db) == []


def _long_parquet(tmp_path):
    """The LONG_CSV rows as Parquet with typed columns (timestamp, varchar, double)."""
    path = tmp_path / "long.parquet"
    csv = write(tmp_path / "src.csv", LONG_CSV)
    con = duckdb.connect()
    con.execute(f"copy (select timestamp::timestamp as timestamp, household, sensor, value::double as value "
                f"from read_csv('{csv}', all_varchar=true)) to '{path}' (format parquet)")
    con.close()
    csv.unlink()
    return path


def test_long_parquet_with_typed_columns_matches_the_csv(tmp_path):
    csv_db, pq_db = tmp_path / "csv.duckdb", tmp_path / "pq.duckdb"
    ingest_files([write(tmp_path / "long.csv", LONG_CSV)], db=csv_db)
    [res] = ingest_files([_long_parquet(tmp_path)], db=pq_db)
    assert (res.layout, res.rows_loaded) == ("long", 4)
    assert readings(pq_db) == readings(csv_db)


def test_wide_parquet_with_typed_and_text_columns(tmp_path, db):
    path = tmp_path / "wide.parquet"
    con = duckdb.connect()
    con.execute(f"""copy (select * from (values
        (timestamptz '2024-01-01 02:00:00+02', 'h9', 21.5::float, 1::integer, '7'),
        (timestamptz '2024-01-01 03:00:00+02', 'h9', null, 0::integer, 'n/a'))
        t(time, home, temp, motion, note)) to '{path}' (format parquet)""")
    con.close()
    [res] = ingest_files([path], db=db)
    assert res.layout == "wide" and res.households == ("h9",)
    h = dt.timedelta(hours=1)
    assert readings(db) == [("h9", "motion", T0, 1.0), ("h9", "motion", T0 + h, 0.0),
                            ("h9", "note", T0, 7.0), ("h9", "temp", T0, 21.5)]
    [(line, hh, record, reason)] = quarantine(db)
    assert (line, hh, reason) == (2, "h9", "value 'n/a' for sensor 'note' is not a number")
    assert json.loads(record)["note"] == "n/a"


def test_semicolon_csv_with_decimal_commas(tmp_path, db):
    long = write(tmp_path / "long_de.csv", "time;household;sensor;value\n2024-01-01 00:00:00;h1;temp;21,5\n"
                                           "2024-01-01 00:01:00;h1;temp;-0,25\n2024-01-01 00:02:00;h1;temp;3\n")
    wide = write(tmp_path / "wide_de.csv", "Zeit;Temperatur;Feuchte\n2024-01-01 00:00:00;19,75;45,5\n"
                                           "2024-01-01 00:01:00;;46\n")
    [long_res] = ingest_files([long], db=db)
    [wide_res] = ingest_files([wide], db=db, timestamp_column="Zeit")
    assert (long_res.layout, long_res.rows_loaded, long_res.rows_quarantined) == ("long", 3, 0)
    assert (wide_res.layout, wide_res.rows_loaded, wide_res.rows_quarantined) == ("wide", 3, 0)
    assert query(db, "select household_id, sensor, value from raw.readings order by all") == [
        ("h1", "temp", -0.25), ("h1", "temp", 3.0), ("h1", "temp", 21.5),
        ("wide_de", "feuchte", 45.5), ("wide_de", "feuchte", 46.0), ("wide_de", "temperatur", 19.75)]
    assert {json.loads(d)["delimiter"] for (d,) in query(db, "select details from raw.batches")} == {";"}


def test_delimiter_option_overrides_detection(tmp_path, db):
    # Detection would pick "," (two commas, one tab): the option says the file is tab-separated.
    src = write(tmp_path / "tabs.txt", "timestamp\ttemp, C, avg\n2024-01-01 00:00:00\t20,5\n")
    [res] = ingest_files([src], db=db, delimiter="tab")
    assert res.sensors == ("temp_c_avg",) and readings(db)[0][3] == 20.5


def test_gzipped_csv(tmp_path, db):
    src = tmp_path / "long.csv.gz"
    src.write_bytes(gzip.compress(LONG_CSV.encode()))
    [res] = ingest_files([src], db=db)
    assert res.rows_loaded == 4 and readings(db)[0] == ("h1", "humidity", T0, 40.0)


# ---------------------------------------------------------------- timestamps and intervals


def test_timestamp_forms_and_offsets_are_converted_to_utc(tmp_path, db):
    src = write(tmp_path / "ts.csv", (
        "reading_at,sensor,value\n"
        "2024-01-01 00:00:00,t,1\n"
        "2024-01-01T00:00:01,t,2\n"
        "2024-01-01T00:00:02.250,t,3\n"
        "2024-01-01T02:00:03+02:00,t,4\n"
        "2024-01-01T00:00:04Z,t,5\n"
        "2023-12-31 19:00:05-05:00,t,6\n"
    ))
    ingest_files([src], db=db)
    got = [(r[2], r[3]) for r in readings(db)]
    s = dt.timedelta(seconds=1)
    assert got == [(T0, 1.0), (T0 + s, 2.0), (T0 + 2.25 * s, 3.0), (T0 + 3 * s, 4.0),
                   (T0 + 4 * s, 5.0), (T0 + 5 * s, 6.0)]


def test_offsets_are_converted_even_when_most_rows_are_naive(tmp_path, db):
    # The loader tries a zone-less format first for speed when a sample of the column fits it;
    # rows far past the sample that carry an offset must still be converted.
    rows = "".join(f"{T0 + dt.timedelta(seconds=s)},t,{s}\n" for s in range(5000))
    tail = "2024-01-01 03:00:00+03:00,t,-1\n2024-01-01T00:00:00.5,t,-2\n2024-01-01 00:00:00 UTC,t,-3\n"
    src = write(tmp_path / "mixed.csv", "timestamp,sensor,value\n" + rows + tail)
    [res] = ingest_files([src], db=db)
    assert res.rows_loaded == 5003
    assert query(db, "select value, reading_at from raw.readings where value < 0 order by value desc") == [
        (-1.0, T0), (-2.0, T0 + dt.timedelta(seconds=0.5)), (-3.0, T0)]


def test_irregular_intervals_are_loaded_exactly(tmp_path, db):
    offsets = [0, 1, 8, 9, 3609, 3610, 7210, 7211, 7218]  # steps of 1 s, 7 s, 1 h and more
    body = "".join(f"{(T0 + dt.timedelta(seconds=o)).isoformat()},{o}\n" for o in offsets)
    [res] = ingest_files([write(tmp_path / "irregular.csv", "timestamp,power_w\n" + body)], db=db)
    assert res.rows_loaded == len(offsets)
    assert [r[2] for r in readings(db)] == [T0 + dt.timedelta(seconds=o) for o in offsets]


def test_single_unknown_sensor_at_one_hour_steps(tmp_path, db):
    body = "".join(f"{(T0 + dt.timedelta(hours=i)):%Y-%m-%d %H:%M:%S},{1000 + i}.5\n" for i in range(24))
    [res] = ingest_files([write(tmp_path / "barometer.csv", "time,pressure_hpa\n" + body)], db=db)
    assert (res.layout, res.sensors, res.households, res.rows_loaded) == ("wide", ("pressure_hpa",), ("barometer",), 24)
    assert query(db, "select min(reading_at), max(reading_at), sum(value) from raw.readings") == [
        (T0, T0 + dt.timedelta(hours=23), sum(1000.5 + i for i in range(24)))]


def test_explicit_timestamp_format(tmp_path, db):
    src = write(tmp_path / "eu.csv", "datum,temp\n01.02.2024 10:30,20\n15.02.2024 23:59,21\n31.02.2024 00:00,22\n")
    [res] = ingest_files([src], db=db, timestamp_column="datum", timestamp_format="%d.%m.%Y %H:%M")
    assert [r[2] for r in readings(db)] == [dt.datetime(2024, 2, 1, 10, 30), dt.datetime(2024, 2, 15, 23, 59)]
    assert res.rows_quarantined == 1
    assert quarantine(db)[0][0] == 4 and "'31.02.2024 00:00' is not a date/time" in quarantine(db)[0][3]


def test_invalid_timestamp_format_raises_before_writing(tmp_path, db):
    src = write(tmp_path / "eu.csv", "datum,temp\n01.02.2024 10:30,20\n")
    with pytest.raises(IngestError, match="invalid timestamp format"):
        ingest_files([src], db=db, timestamp_column="datum", timestamp_format="%Q")
    assert not db.exists()


# ---------------------------------------------------------------- naming


def test_household_option_names_files_without_a_household_column(tmp_path, db):
    body = "timestamp,temp\n2024-01-01 00:00:00,20\n"
    [named] = ingest_files([write(tmp_path / "a.csv", body)], db=db, household="flat_7")
    [stem] = ingest_files([write(tmp_path / "kitchen_2024.csv", body + "2024-01-01 00:01:00,21\n")], db=db)
    assert (named.households, stem.households) == (("flat_7",), ("kitchen_2024",))
    assert query(db, "select household_id, count(*) from raw.readings group by 1 order by 1") == [
        ("flat_7", 1), ("kitchen_2024", 2)]


def test_household_column_wins_and_empty_cells_fall_back(tmp_path, db):
    src = write(tmp_path / "homes.csv", "timestamp,home_id,temp\n2024-01-01 00:00:00,h1,20\n"
                                        "2024-01-01 00:00:00,,21\n2024-01-01 00:00:00, h2 ,22\n")
    ingest_files([src], db=db, household="fallback")
    assert query(db, "select household_id, value from raw.readings order by 2") == [
        ("h1", 20.0), ("fallback", 21.0), ("h2", 22.0)]


def test_existing_households_are_left_alone(tmp_path, db):
    with writer(db) as con:
        con.execute("insert into raw.households values ('h1', 'simulator', 'Europe/Berlin', '{}', 'sim-1', ?)", [T0])
    ingest_files([write(tmp_path / "long.csv", LONG_CSV)], db=db)
    assert query(db, "select household_id, source, timezone from raw.households order by 1") == [
        ("h1", "simulator", "Europe/Berlin"), ("h2", "file", "UTC")]


def test_column_map_renames_wide_columns_and_long_sensor_names(tmp_path, db):
    wide = write(tmp_path / "w.csv", "timestamp,Temp_C,RH\n2024-01-01 00:00:00,20,50\n")
    long = write(tmp_path / "l.csv", "timestamp,sensor,value\n2024-01-01 00:00:00,TEMP_C,21\n"
                                     "2024-01-01 00:00:00,Door Contact,1\n")
    mapping = {"temp_c": "Temperature", "rh": "humidity"}
    ingest_files([wide, long], db=db, column_map=mapping)
    assert query(db, "select household_id, sensor, value from raw.readings order by 1, 2") == [
        ("l", "door_contact", 1.0), ("l", "temperature", 21.0), ("w", "humidity", 50.0), ("w", "temperature", 20.0)]


# ---------------------------------------------------------------- idempotence


def test_reingesting_the_same_content_adds_nothing(tmp_path, db):
    src = write(tmp_path / "long.csv", LONG_CSV)
    [first] = ingest_files([src], db=db)
    before = snapshot(db)
    copy = write(tmp_path / "copy_of_long.csv", LONG_CSV)
    messages = []
    again = ingest_files([src, copy], db=db, progress=messages.append)
    assert [r.skipped for r in again] == [True, True] and all(r.batch_id is None for r in again)
    assert [r.rows_loaded for r in again] == [0, 0]
    assert snapshot(db) == before
    assert all("skipped" in m and first.batch_id in m for m in messages)


def test_identical_files_in_one_call_load_once(tmp_path, db):
    a, b = write(tmp_path / "a.csv", LONG_CSV), write(tmp_path / "b.csv", LONG_CSV)
    results = ingest_files([a, b], db=db)
    assert [r.skipped for r in results] == [False, True]
    assert query(db, "select count(*) from raw.readings") == [(4,)]


# ---------------------------------------------------------------- quarantine


def test_bad_long_rows_are_quarantined_with_line_numbers_and_reasons(tmp_path, db):
    lines = [
        "timestamp,household,sensor,value",  # 1
        "2024-01-01 00:00:00,h1,temperature,21.5",  # 2 good
        "2024-01-01 00:00:00,h1,temperature,abc",  # 3 bad value
        "yesterday,h1,temperature,20",  # 4 bad timestamp
        "",  # 5 blank: DuckDB skips it silently, so later line numbers must account for it
        ",h1,humidity,40",  # 6 missing timestamp
        "2024-01-01 00:01:00,h1,,40",  # 7 missing sensor
        "2024-01-01 00:01:00,h1,humidity,",  # 8 missing value
        "2024-01-01 00:01:00,h1,humidity,inf",  # 9 not finite
        "2024-01-01 00:01:00,h1,humidity,41,extra",  # 10 too many fields
        "2024-01-01 00:02:00,h2,humidity,42",  # 11 good
    ]
    [res] = ingest_files([write(tmp_path / "bad.csv", "\n".join(lines) + "\n")], db=db)
    got = quarantine(db)
    assert [(q[0], q[3]) for q in got] == [
        (3, "value 'abc' for sensor 'temperature' is not a number"),
        (4, "timestamp 'yesterday' is not a date/time"),
        (6, "missing timestamp"),
        (7, "missing sensor name"),
        (8, "missing value"),
        (9, "value 'inf' for sensor 'humidity' is not finite"),
        (10, "malformed CSV line: expected number of columns: 4 found: 5"),
    ]
    assert [q[2] for q in got[:2]] == [lines[2], lines[3]]
    assert got[0][1] == "h1"
    data_rows = sum(1 for line in lines[1:] if line)
    assert (res.rows_loaded, res.rows_quarantined) == (2, 7)
    assert res.rows_loaded + res.rows_quarantined == data_rows
    assert query(db, "select rows_loaded, rows_quarantined from raw.batches") == [(2, 7)]
    assert query(db, "select distinct source_file, batch_id from raw.quarantine") == [
        (str((tmp_path / "bad.csv").resolve()), res.batch_id)]
    assert [r[3] for r in readings(db)] == [21.5, 42.0]


def test_several_problems_in_one_row_are_all_named(tmp_path, db):
    src = write(tmp_path / "worse.csv", "timestamp,sensor,value\n2024-01-01,x,1\nnever,temp,zero\n")
    ingest_files([src], db=db)
    [(line, _hh, record, reason)] = quarantine(db)
    assert (line, record) == (3, "never,temp,zero")
    assert reason == "timestamp 'never' is not a date/time; value 'zero' for sensor 'temp' is not a number"


def test_wide_rows_quarantine_bad_timestamps_once_and_bad_cells_by_sensor(tmp_path, db):
    src = write(tmp_path / "wide_bad.csv", (
        "time,temp,hum\n"  # 1
        "2024-01-01 00:00:00,20,50\n"  # 2 good
        "not a time,21,51\n"  # 3 bad timestamp: one row quarantined, nothing loaded
        "2024-01-01 00:02:00,oops,52\n"  # 4 bad cell: hum loads, temp quarantined
        "2024-01-01 00:03:00,,\n"  # 5 nothing to load
    ))
    [res] = ingest_files([src], db=db)
    assert [(q[0], q[2], q[3]) for q in quarantine(db)] == [
        (3, "not a time,21,51", "timestamp 'not a time' is not a date/time"),
        (4, "2024-01-01 00:02:00,oops,52", "value 'oops' for sensor 'temp' is not a number"),
        (5, "2024-01-01 00:03:00,,", "no sensor values in the row (every sensor cell is empty)"),
    ]
    assert (res.rows_loaded, res.rows_quarantined) == (3, 3)
    assert [(r[1], r[3]) for r in readings(db)] == [("hum", 50.0), ("hum", 52.0), ("temp", 20.0)]


# ---------------------------------------------------------------- all or nothing


BAD_FILES = {
    "missing": (None, "no such file"),
    "directory": ("<dir>", "not a file"),
    "no_timestamp": ("household,sensor,value\nh1,t,1\n", "no timestamp column found"),
    "empty": ("", "no data rows"),
    "header_only": ("timestamp,sensor,value\n", "no data rows"),
    "binary": (b"PAR1\x00\x01\x02\xff\xfe", "cannot be read as CSV"),
    "bad_parquet": (b"not parquet at all", "cannot be read as Parquet"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_file_raises_and_leaves_the_warehouse_unchanged(tmp_path, db, kind):
    content, message = BAD_FILES[kind]
    ingest_files([write(tmp_path / "before.csv", LONG_CSV)], db=db)
    before = snapshot(db)
    bad = tmp_path / (f"{kind}.parquet" if kind == "bad_parquet" else f"{kind}.csv")
    if content == "<dir>":
        bad.mkdir()
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content)
    good = write(tmp_path / "good.csv", LONG_CSV.replace("21.5", "22.5"))
    with pytest.raises(IngestError) as err:
        ingest_files([good, bad], db=db)
    assert str(bad) in str(err.value) and message in str(err.value)
    assert snapshot(db) == before


def test_a_bad_file_on_a_new_warehouse_creates_nothing(tmp_path, db):
    with pytest.raises(IngestError, match="no timestamp column found"):
        ingest_files([write(tmp_path / "x.csv", "a,b\n1,2\n")], db=db)
    assert not db.exists()


def test_a_failure_while_loading_rolls_back_every_file(tmp_path, db, monkeypatch):
    import warehouse.ingest as ingest

    calls = []
    real = ingest._quarantine

    def fail_on_second(con, plan, params):
        calls.append(plan.path)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real(con, plan, params)

    monkeypatch.setattr(ingest, "_quarantine", fail_on_second)
    ingest_files([write(tmp_path / "seed.csv", "timestamp,x\n2024-01-01,1\n")], db=db)
    calls.clear()
    before = snapshot(db)
    files = [write(tmp_path / "one.csv", LONG_CSV), write(tmp_path / "two.csv", LONG_CSV.replace("h1", "h3"))]
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_files(files, db=db)
    assert snapshot(db) == before
