"""File ingest: layouts, formats, timestamps, quarantine, idempotence and all-or-nothing checks."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import duckdb
import pytest

from warehouse.connection import reader, writer
from warehouse.ingest import IngestError, IngestFailed, Limits, ingest_files

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
    rows = "".join(f"{T0 + dt.timedelta(seconds=s)},t,{s}\n" for s in range(1, 5001))
    tail = "2024-01-01 03:00:00+03:00,t,-1\n2024-01-01T00:00:00.5,t,-2\n2023-12-31 23:59:59 UTC,t,-3\n"
    src = write(tmp_path / "mixed.csv", "timestamp,sensor,value\n" + rows + tail)
    [res] = ingest_files([src], db=db)
    assert res.rows_loaded == 5003
    assert query(db, "select value, reading_at from raw.readings where value < 0 order by value desc") == [
        (-1.0, T0), (-2.0, T0 + dt.timedelta(seconds=0.5)), (-3.0, T0 - dt.timedelta(seconds=1))]


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
    # 7 of 9 rows are bad: more than a load may quarantine by default, so the limit is raised
    [res] = ingest_files([write(tmp_path / "bad.csv", "\n".join(lines) + "\n")], db=db,
                         limits=Limits(max_quarantined=0.9))
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
    "binary": (b"\x00\x01\x02\xff\xfe\x80\x90garbage", "holds binary data, not text"),
    "broken_parquet_named_csv": (b"PAR1\x00\x01\x02\xff\xfe", "starts like a Parquet file"),
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


# ---------------------------------------------------------------- honest outcomes (issue 14)


DAY_FIRST_CSV = "date,T1,RH_1\n" + "".join(
    f"{d}/02/2016 {h}:{m:02d},{20 + h / 10},{40 + m / 10}\n" for d in (14, 15) for h in range(3) for m in (0, 30))


def test_a_file_whose_every_row_is_quarantined_fails_names_the_fix_and_is_not_recorded(tmp_path, db):
    src = write(tmp_path / "energy.csv", DAY_FIRST_CSV)
    with pytest.raises(IngestFailed) as err:
        ingest_files([src], db=db)
    message = str(err.value)
    assert "no usable reading: all 12 rows and cells were quarantined" in message
    assert "timestamp '14/02/2016 0:00' is not a date/time (line 2)" in message
    assert "--timestamp-format '%d/%m/%Y %H:%M'" in message
    assert query(db, "select count(*) from raw.readings") == [(0,)]
    assert query(db, "select count(*) from raw.batches") == [(0,)]
    # the rejected rows stay inspectable under the attempt's id, which the message gives
    attempt = err.value.results[0].attempt_id
    assert f"where batch_id = '{attempt}'" in message
    assert query(db, "select count(*), min(line_number), max(line_number) from raw.quarantine "
                     "where batch_id = ?", [attempt]) == [(12, 2, 13)]
    # the corrected command loads (it is not "already ingested"), and clears the failed attempt's rows
    [fixed] = ingest_files([src], db=db, timestamp_format="%d/%m/%Y %H:%M")
    assert (fixed.skipped, fixed.rows_loaded, fixed.rows_quarantined) == (False, 24, 0)
    assert query(db, "select min(reading_at), max(reading_at) from raw.readings") == [
        (dt.datetime(2016, 2, 14), dt.datetime(2016, 2, 15, 2, 30))]
    assert query(db, "select count(*) from raw.quarantine") == [(0,)]
    # an identical re-run is still skipped
    [again] = ingest_files([src], db=db, timestamp_format="%d/%m/%Y %H:%M")
    assert again.skipped and query(db, "select count(*) from raw.readings") == [(24,)]


def test_a_failed_attempt_run_twice_keeps_one_copy_of_its_quarantined_rows(tmp_path, db):
    src = write(tmp_path / "energy.csv", DAY_FIRST_CSV)
    for _ in range(2):
        with pytest.raises(IngestFailed):
            ingest_files([src], db=db)
    assert query(db, "select count(*), count(distinct line_number) from raw.quarantine") == [(12, 12)]


def test_a_load_quarantining_more_than_the_limit_fails_unless_the_limit_is_raised(tmp_path, db):
    src = write(tmp_path / "half.csv", "timestamp,temp\n2024-01-01 00:00,1\n2024-01-01 00:05,x\n"
                                       "2024-01-01 00:10,y\n2024-01-01 00:15,z\n2024-01-01 00:20,5\n")
    with pytest.raises(IngestFailed, match=r"60% of what it holds was quarantined \(3 rows and cells, against 2 good"):
        ingest_files([src], db=db)
    assert query(db, "select count(*) from raw.readings") == [(0,)]
    [res] = ingest_files([src], db=db, limits=Limits(max_quarantined=0.6))
    assert (res.rows_loaded, res.rows_quarantined) == (2, 3)


def test_epoch_numbers_get_an_epoch_hint(tmp_path, db):
    # values in no plausible epoch range are not detected; the hint still names the option
    src = write(tmp_path / "odd.csv", "timestamp,temp\n12345,1\n12346,2\n")
    with pytest.raises(IngestFailed, match="--timestamp-format epoch_s or epoch_ms"):
        ingest_files([src], db=db)


def test_one_failing_file_loads_no_file_of_the_command(tmp_path, db):
    ingest_files([write(tmp_path / "before.csv", LONG_CSV)], db=db)
    before = snapshot(db)
    good = write(tmp_path / "good.csv", LONG_CSV.replace("2024-01-01", "2024-01-02"))
    bad = write(tmp_path / "energy.csv", DAY_FIRST_CSV)
    with pytest.raises(IngestFailed) as err:
        ingest_files([good, bad], db=db)
    assert [(r.failure is None, r.rows_loaded) for r in err.value.results] == [(True, 4), (False, 0)]
    after = snapshot(db)
    assert {t: after[t] for t in ("readings", "households", "batches")} == \
           {t: before[t] for t in ("readings", "households", "batches")}
    assert query(db, "select distinct source_file from raw.quarantine") == [(str(bad.resolve()),)]
    [res] = ingest_files([good], db=db)  # the good file alone loads
    assert res.rows_loaded == 4


def test_cli_exits_non_zero_on_a_failed_load_and_zero_once_corrected(tmp_path, db, capsys):
    from scripts.cli import main

    src = write(tmp_path / "energy.csv", DAY_FIRST_CSV)
    assert main(["ingest", str(src), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "homewatch ingest: error:" in err and "--timestamp-format '%d/%m/%Y %H:%M'" in err
    assert "Traceback" not in err
    assert main(["ingest", str(src), "--db", str(db), "--timestamp-format", "%d/%m/%Y %H:%M"]) == 0
    assert "24 readings loaded" in capsys.readouterr().out


def test_the_idempotency_key_includes_the_options_that_change_the_result(tmp_path, db):
    src = write(tmp_path / "kitchen.csv", "timestamp,temp\n2024-01-01 00:00:00,20\n")
    [first] = ingest_files([src], db=db)
    [same] = ingest_files([src], db=db, household="kitchen", delimiter=",", timestamp_column="timestamp")
    assert same.skipped  # options naming what was detected change nothing
    [other] = ingest_files([src], db=db, household="flat_2")
    [mapped] = ingest_files([src], db=db, household="flat_2", column_map={"temp": "temperature"})
    assert not other.skipped and not mapped.skipped and len({first.batch_id, other.batch_id, mapped.batch_id}) == 3
    assert query(db, "select household_id, sensor from raw.readings order by all") == [
        ("flat_2", "temp"), ("flat_2", "temperature"), ("kitchen", "temp")]


# ---------------------------------------------------------------- epoch timestamps


EPOCH_T0 = int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp())


@pytest.mark.parametrize("scale", [1, 1000])
def test_epoch_seconds_and_milliseconds_are_detected(tmp_path, db, scale):
    body = "".join(f"{(EPOCH_T0 + 300 * i) * scale},{i}\n" for i in range(3))
    [res] = ingest_files([write(tmp_path / "epoch.csv", "timestamp,temp\n" + body)], db=db)
    assert res.rows_loaded == 3
    assert [r[2] for r in readings(db)] == [T0 + dt.timedelta(minutes=5 * i) for i in range(3)]


def test_epoch_in_a_parquet_integer_column_is_detected(tmp_path, db):
    path = tmp_path / "epoch.parquet"
    con = duckdb.connect()
    con.execute(f"copy (select {EPOCH_T0}::bigint * 1000 + 1500 as ts, 21.5 as temp) to '{path}' (format parquet)")
    con.close()
    ingest_files([path], db=db)
    assert [r[2:] for r in readings(db)] == [(T0 + dt.timedelta(seconds=1.5), 21.5)]


@pytest.mark.parametrize("fmt", ["epoch_s", "%s"])
def test_epoch_format_options(tmp_path, db, fmt):
    # 1e8 s (1973) is outside the range detection accepts: only the option reads it as epoch seconds
    src = write(tmp_path / "epoch.csv", "timestamp,temp\n100000000.25,1\n")
    old = Limits(earliest=dt.datetime(1970, 1, 1))
    with pytest.raises(IngestFailed):
        ingest_files([src], db=db, limits=old)
    ingest_files([src], db=db, timestamp_format=fmt, limits=old)
    assert readings(db)[0][2] == dt.datetime(1973, 3, 3, 9, 46, 40, 250000)


def test_epoch_ms_option_and_percent_s_inside_a_format(tmp_path, db):
    src = write(tmp_path / "epoch.csv", f"timestamp,temp\n{EPOCH_T0 * 1000 + 7},1\n")
    ingest_files([src], db=db, timestamp_format="epoch_ms")
    assert readings(db)[0][2] == T0 + dt.timedelta(milliseconds=7)
    with pytest.raises(IngestError, match="use --timestamp-format epoch_s"):
        ingest_files([src], db=db, timestamp_format="%s.%f")


# ---------------------------------------------------------------- implausible times


def test_implausible_times_are_quarantined_with_a_reason(tmp_path, db):
    soon = (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)).replace(microsecond=0)
    src = write(tmp_path / "far.csv", (
        "timestamp,temp\n2025-01-01 00:00:00,21\n9999-12-31 23:55:00,22\n1970-01-01 00:00:00,23\n"
        f"{soon:%Y-%m-%d %H:%M:%S},24\n2025-01-01 00:05:00,25\n"))
    [res] = ingest_files([src], db=db)
    assert sorted(r[3] for r in readings(db)) == [21.0, 24.0, 25.0]
    reasons = {line: reason for line, _hh, _rec, reason in quarantine(db)}
    assert list(reasons) == [3, 4] and res.rows_quarantined == 2
    assert reasons[3].startswith("timestamp '9999-12-31 23:55:00' is more than 24 hours after the ingest time")
    assert reasons[4] == ("timestamp '1970-01-01 00:00:00' is before the earliest accepted time "
                          "2000-01-01 00:00:00 (--earliest)")


def test_the_time_limits_are_settings(tmp_path, db, monkeypatch):
    src = write(tmp_path / "old.csv", "timestamp,temp\n1995-06-01 00:00:00,21\n2024-01-01 00:00:00,22\n")
    monkeypatch.setenv("HOMEWATCH_INGEST_EARLIEST", "1990-01-01")
    [res] = ingest_files([src], db=db)
    assert (res.rows_loaded, res.rows_quarantined) == (2, 0)
    monkeypatch.delenv("HOMEWATCH_INGEST_EARLIEST")
    future = write(tmp_path / "future.csv", "timestamp,temp\n2030-01-01 00:00:00,21\n2024-01-01 00:00:00,22\n")
    [strict] = ingest_files([future], db=db)
    assert strict.rows_quarantined == 1
    [loose] = ingest_files([future], db=db, limits=Limits(future_hours=24 * 365 * 10))
    assert (loose.rows_loaded, loose.skipped) == (1, False)  # the 2024 reading was already there


# ---------------------------------------------------------------- column names and --map


def test_columns_colliding_after_normalisation_are_refused_naming_both(tmp_path, db):
    src = write(tmp_path / "twins.csv", "timestamp,Temp A,temp-a\n2024-01-01 00:00:00,20,21\n")
    with pytest.raises(IngestError, match="columns 'Temp A' and 'temp-a' would both become sensor 'temp_a'"):
        ingest_files([src], db=db)
    assert not db.exists()
    mapped = write(tmp_path / "mapped.csv", "timestamp,t1,temperature\n2024-01-01 00:00:00,20,21\n")
    with pytest.raises(IngestError, match="columns 't1' and 'temperature' would both become sensor 'temperature'"):
        ingest_files([mapped], db=db, column_map={"t1": "Temperature"})


def test_non_ascii_names_stay_readable(tmp_path, db):
    wide = write(tmp_path / "wide.csv", "timestamp,Température (°C),温度,Влажность\n2024-01-01 00:00:00,20,21,40\n")
    long = write(tmp_path / "long.csv", "timestamp,sensor,value\n2024-01-01 00:00:00,Humidité Salle-de-bain,55\n")
    ingest_files([wide, long], db=db)
    assert query(db, "select distinct sensor from raw.readings order by 1") == [
        ("humidité_salle_de_bain",), ("température_c",), ("влажность",), ("温度",)]


def test_a_map_source_that_matches_nothing_is_an_error_listing_what_is_there(tmp_path, db):
    wide = write(tmp_path / "w.csv", "timestamp,Temp_C,RH\n2024-01-01 00:00:00,20,50\n")
    with pytest.raises(IngestError, match=r"--map 'tmp_c': no such column .*w\.csv columns: timestamp, Temp_C, RH"):
        ingest_files([wide], db=db, column_map={"tmp_c": "temperature"})
    assert not db.exists()
    long = write(tmp_path / "l.csv", "timestamp,sensor,value\n2024-01-01 00:00:00,TEMP_C,21\n")
    ingest_files([write(tmp_path / "seed.csv", LONG_CSV)], db=db)
    before = snapshot(db)
    with pytest.raises(IngestError, match=r"--map 'rh'.*l\.csv sensors: TEMP_C"):
        ingest_files([long], db=db, column_map={"rh": "humidity"})
    assert snapshot(db) == before


# ---------------------------------------------------------------- duplicates and overlapping exports


def test_conflicting_duplicates_are_quarantined_and_exact_repeats_skipped(tmp_path, db):
    src = write(tmp_path / "dups.csv", (
        "timestamp,household,sensor,value\n"
        "2024-01-01 00:00:00,h1,temp,20\n"  # 2 kept
        "2024-01-01 00:00:00,h1,temp,20\n"  # 3 exact repeat: skipped
        "2024-01-01 00:00:00,h1,temp,25\n"  # 4 conflicting: quarantined
        "2024-01-01 00:00:00,h2,temp,25\n"  # 5 another household: kept
        "2024-01-01 00:05:00,h1,temp,21\n"))
    [res] = ingest_files([src], db=db)
    assert (res.rows_loaded, res.repeated, res.conflicting, res.rows_quarantined) == (3, 1, 1, 1)
    assert readings(db) == [("h1", "temp", T0, 20.0), ("h1", "temp", T0 + dt.timedelta(minutes=5), 21.0),
                            ("h2", "temp", T0, 25.0)]
    [(line, hh, record, reason)] = quarantine(db)
    assert (line, hh, record) == (4, "h1", "2024-01-01 00:00:00,h1,temp,25")
    assert reason.startswith("conflicting duplicate: sensor 'temp' at 2024-01-01 00:00:00 has the value 20.0")
    # `homewatch check` counts them (a warn-level expectation reads this figure)
    from expectations.batches import load_batch
    from expectations.profiles import batch_summary

    with reader(db) as con:
        batch = load_batch(con, res.batch_id)
        import pandas as pd
        summary = batch_summary(con, batch, pd.DataFrame(), pd.DataFrame())
    assert summary.loc[0, "n_conflicting_in_file"] == 1
    assert json.loads(query(db, "select details from raw.batches")[0][0])["conflicting"] == 1


def test_a_growing_export_loads_only_its_new_rows(tmp_path, db):
    def export(days: int):
        rows = [f"{T0 + dt.timedelta(hours=h)},h1,{s},{h + (s == 'hum')}"
                for h in range(24 * days) for s in ("temp", "hum")]
        return "timestamp,household,sensor,value\n" + "\n".join(rows) + "\n"

    [first] = ingest_files([write(tmp_path / "last_30_days.csv", export(2))], db=db)
    # the next day's export repeats the first two days, one reading corrected, and adds a day
    text = export(3).replace(f"{T0 + dt.timedelta(hours=5)},h1,temp,5\n", f"{T0 + dt.timedelta(hours=5)},h1,temp,6\n")
    [second] = ingest_files([write(tmp_path / "last_30_days.csv", text)], db=db)
    assert (first.rows_loaded, second.rows_loaded, second.already_present, second.replacing) == (96, 49, 95, 1)
    assert query(db, "select count(*), count(distinct (sensor, reading_at)) from raw.readings") == [(145, 144)]
    # the check no longer sees a re-delivery: nothing of the new batch was landed before but the correction
    from expectations.batches import load_batch
    from expectations.profiles import landed_before

    with reader(db) as con:
        assert landed_before(con, load_batch(con, second.batch_id)) == (1, 1)
    # the same export again, byte for byte: skipped; the same rows in another order: nothing new
    [third] = ingest_files([write(tmp_path / "last_30_days.csv", text)], db=db)
    shuffled = "timestamp,household,sensor,value\n" + "\n".join(reversed(text.strip().split("\n")[1:])) + "\n"
    [fourth] = ingest_files([write(tmp_path / "reordered.csv", shuffled)], db=db)
    assert third.skipped and (fourth.batch_id, fourth.rows_loaded, fourth.already_present) == (None, 0, 144)
    assert query(db, "select count(*) from raw.readings") == [(145,)]
    assert query(db, "select count(*) from raw.batches") == [(2,)]


def test_overlap_is_matched_by_household_sensor_time_and_value_only(tmp_path, db):
    ingest_files([write(tmp_path / "a.csv", "timestamp,household,sensor,value\n2024-01-01 00:00:00,h1,t,1\n")], db=db)
    [res] = ingest_files([write(tmp_path / "b.csv", "timestamp,household,sensor,value\n"
                                "2024-01-01 00:00:00,h2,t,1\n2024-01-01 00:00:00,h1,u,1\n"
                                "2024-01-01 00:00:01,h1,t,1\n2024-01-01 00:00:00,h1,t,1\n")], db=db)
    assert (res.rows_loaded, res.already_present) == (3, 1)


# ---------------------------------------------------------------- what the bytes are


def test_gzip_named_csv_is_read(tmp_path, db):
    src = tmp_path / "export.csv"
    src.write_bytes(gzip.compress(LONG_CSV.encode()))
    [res] = ingest_files([src], db=db)
    assert res.rows_loaded == 4 and readings(db)[0] == ("h1", "humidity", T0, 40.0)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])  # with a byte-order mark, and without
def test_utf16_text_is_read(tmp_path, db, encoding):
    src = tmp_path / "excel_export.csv"
    src.write_bytes("timestamp\ttempérature\n2024-01-01 00:00:00\t21,5\n".encode(encoding))
    [res] = ingest_files([src], db=db)
    assert res.sensors == ("température",) and readings(db)[0][3] == 21.5


def test_parquet_named_csv_is_read_as_parquet(tmp_path, db):
    src = tmp_path / "actually.csv"
    src.write_bytes(_long_parquet(tmp_path).read_bytes())
    [res] = ingest_files([src], db=db)
    assert res.rows_loaded == 4


REFUSED_FILES = {
    "sqlite": (b"SQLite format 3\x00" + bytes(100), "looks like a SQLite database (for example a Home Assistant"),
    "zip": (b"PK\x03\x04" + bytes(60), "this is a ZIP archive"),
    "utf16be": ("timestamp,t\n2024-01-01 00:00:00,1\n".encode("utf-16-be"), "UTF-16 big-endian"),
    "gzip_of_binary": (gzip.compress(b"\x00\x01\x02\x03\xff" * 50), "gzip-compressed file holding binary data"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED_FILES))
def test_files_that_are_not_csv_are_refused_saying_what_they_are(tmp_path, db, kind):
    content, message = REFUSED_FILES[kind]
    ingest_files([write(tmp_path / "before.csv", LONG_CSV)], db=db)
    before = snapshot(db)
    bad = tmp_path / f"{kind}.csv"
    bad.write_bytes(content)
    with pytest.raises(IngestError, match="cannot be read as CSV") as err:
        ingest_files([write(tmp_path / "good.csv", LONG_CSV.replace("21.5", "22.5")), bad], db=db)
    assert str(bad) in str(err.value) and message in str(err.value)
    assert snapshot(db) == before


def test_cli_refuses_a_sqlite_file_with_one_line_and_reports_nothing_new(tmp_path, db, capsys):
    from scripts.cli import main

    home_assistant = tmp_path / "home-assistant_v2.db"
    home_assistant.write_bytes(b"SQLite format 3\x00" + bytes(200))
    assert main(["ingest", str(home_assistant), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "looks like a SQLite database" in err and "Traceback" not in err and not db.exists()
    src = write(tmp_path / "a.csv", LONG_CSV)
    assert main(["ingest", str(src), "--db", str(db)]) == 0
    again = write(tmp_path / "b.csv", LONG_CSV.replace("timestamp,household", "Timestamp,Household"))
    capsys.readouterr()
    assert main(["ingest", str(again), "--db", str(db)]) == 0
    assert "nothing new: its 4 readings are all in the warehouse already" in capsys.readouterr().out


def test_old_mac_line_endings_are_read(tmp_path, db):
    src = write(tmp_path / "cr.csv", "timestamp,temp\r2024-01-01 00:00:00,20\r2024-01-01 00:05:00,21\r")
    [res] = ingest_files([src], db=db)
    assert (res.rows_loaded, res.sensors) == (2, ("temp",))


def test_the_overlap_check_reads_only_the_files_households_and_time_span(tmp_path, db, monkeypatch):
    import warehouse.ingest as ingest

    day = "".join(f"{T0 + dt.timedelta(hours=h)},{hh},t,{h}\n" for h in range(48) for hh in ("h1", "h2"))
    ingest_files([write(tmp_path / "two_days.csv", "timestamp,household,sensor,value\n" + day)], db=db)
    seen, real = [], ingest._drop_temp_tables

    def record_then_drop(con):
        if con.execute("select count(*) from duckdb_tables() where table_name = 'hw_existing'").fetchone()[0]:
            seen.append(con.execute("select count(*), min(reading_at), max(reading_at), "
                                    "list(distinct household_id) from hw_existing").fetchone())
        real(con)

    monkeypatch.setattr(ingest, "_drop_temp_tables", record_then_drop)
    later = "".join(f"{T0 + dt.timedelta(hours=h)},h1,t,{h}\n" for h in range(20, 30))
    [res] = ingest_files([write(tmp_path / "h1_later.csv", "timestamp,household,sensor,value\n" + later)], db=db)
    assert (res.rows_loaded, res.already_present) == (0, 10) and res.batch_id is None
    assert seen == [(10, T0 + dt.timedelta(hours=20), T0 + dt.timedelta(hours=29), ["h1"])]
