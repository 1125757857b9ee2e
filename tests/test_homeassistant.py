"""Home Assistant: history CSVs and recorder databases (issue 20)."""
from __future__ import annotations

import datetime as dt

import pytest

from bench.bench_homeassistant import add_states, create_recorder_db
from warehouse.connection import reader
from warehouse.ingest import IngestError, ingest_files

T0 = dt.datetime(2024, 3, 1, 10, 0)
E0 = T0.replace(tzinfo=dt.timezone.utc).timestamp()
E0_DT = T0

# A living-room temperature (Z, milliseconds, an offset), a bathroom humidity that is unavailable
# for a while, a front door opened at 10:02 and closed at 10:13, and a text state.
HISTORY = """entity_id,state,last_changed
sensor.living_room_temperature,21.5,2024-03-01T10:00:00.000Z
sensor.living_room_temperature,21.7,2024-03-01T10:12:30.250Z
sensor.living_room_temperature,22.25,2024-03-01T11:30:00+01:00
sensor.bathroom_humidity,55,2024-03-01T10:00:00Z
sensor.bathroom_humidity,unavailable,2024-03-01T10:10:00Z
sensor.bathroom_humidity,,2024-03-01T10:15:00Z
sensor.bathroom_humidity,unknown,2024-03-01T10:20:00Z
sensor.bathroom_humidity,60.5,2024-03-01T10:25:00Z
binary_sensor.front_door,off,2024-03-01T10:00:00.000Z
binary_sensor.front_door,on,2024-03-01T10:02:00.000Z
binary_sensor.front_door,off,2024-03-01T10:13:00.000Z
binary_sensor.front_door,off,2024-03-01T10:40:00.000Z
"""


@pytest.fixture
def db(tmp_path):
    return tmp_path / "w.duckdb"


def query(db, sql: str, params=None) -> list[tuple]:
    with reader(db) as con:
        return con.execute(sql, params or []).fetchall()


def series(db, sensor: str) -> list[tuple]:
    return query(db, "select reading_at, value from raw.readings where sensor = ? order by 1", [sensor])


def steps(db, sensor: str) -> list[tuple]:
    """The sensor on the 5-minute grid as dbt buckets it (int_readings_bucketed_to_steps: binary max)."""
    return query(db, "select time_bucket(interval 5 minute, reading_at) as s, max(value) from raw.readings "
                     "where sensor = ? group by s order by s", [sensor])


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def history(tmp_path, text: str = HISTORY, name: str = "history.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- history CSV


def test_history_csv_entities_become_sensors_with_their_values(tmp_path, db):
    said = []
    [res] = ingest_files([history(tmp_path)], db=db, household="flat", progress=said.append)
    assert res.layout == "homeassistant" and set(res.sensors) == {"temperature", "humidity", "door"}
    assert query(db, "select distinct household_id from raw.readings") == [("flat",)]
    temperature = dict(series(db, "temperature"))
    # one reading per grid step, the mean of the states in effect in it; Z, milliseconds and
    # +01:00 all land in UTC (21.7 from 10:12:30.250, 22.25 from 11:30+01:00)
    assert temperature[at(0)] == temperature[at(5)] == 21.5 and temperature[at(10)] == pytest.approx(21.6)
    assert temperature[at(15)] == temperature[at(25)] == 21.7 and temperature[at(30)] == 22.25
    assert query(db, "select count(*) from raw.quarantine") == [(0,)]
    assert any("sensor.living_room_temperature -> temperature" in m and "automatic" in m for m in said)
    assert any("binary_sensor.front_door -> door" in m for m in said)


def test_unavailable_unknown_and_empty_are_missing_not_quarantined(tmp_path, db):
    [res] = ingest_files([history(tmp_path)], db=db)
    assert res.missing == 3 and res.rows_quarantined == 0
    assert query(db, "select count(*) from raw.quarantine") == [(0,)]
    # 55 is held until it became unavailable at 10:10, then nothing until 60.5 at 10:25
    assert series(db, "humidity") == [(at(0), 55.0), (at(5), 55.0), (at(25), 60.5), (at(30), 60.5),
                                      (at(35), 60.5), (at(40), 60.5)]


def test_door_changes_become_zero_or_one_at_every_grid_step(tmp_path, db):
    ingest_files([history(tmp_path)], db=db)
    # open at 10:02, closed at 10:13: open in the steps 10:00, 10:05, 10:10, closed after, as the
    # simulator's door is 0 or 1 at every step of the span
    assert steps(db, "door") == [(at(m), 1.0 if m <= 10 else 0.0) for m in range(0, 45, 5)]


def test_states_follow_the_warehouse_grid_step(tmp_path, db, monkeypatch):
    import warehouse

    monkeypatch.setattr(warehouse, "grid_step", lambda con: 60, raising=False)  # seconds, as warehouse/grid.py
    ingest_files([history(tmp_path)], db=db)
    door = dict(series(db, "door"))
    assert [door[at(m)] for m in range(0, 15)] == [0.0, 0.0] + [1.0] * 11 + [0.0, 0.0]  # open 10:02 to 10:13


def test_a_state_is_held_at_most_a_day(tmp_path, db):
    text = ("entity_id,state,last_updated\n"
            "sensor.office_temperature,20,2024-03-01T10:00:00Z\n"
            "sensor.office_temperature,21,2024-03-31T10:00:00Z\n")
    [res] = ingest_files([history(tmp_path, text)], db=db)
    held = series(db, "temperature")
    assert res.rows_loaded == len(held) == 24 * 12 + 1  # 288 steps of the first state, one of the second
    assert max(t for t, v in held if v == 20.0) == at(24 * 60 - 5)


def test_a_binary_state_is_held_at_most_a_week(tmp_path, db):
    text = ("entity_id,state,last_changed\n"
            "binary_sensor.front_door,off,2024-03-01T10:00:00Z\n"
            "binary_sensor.front_door,on,2024-03-31T10:00:00Z\n")
    [res] = ingest_files([history(tmp_path, text)], db=db)
    door = series(db, "door")
    assert res.rows_loaded == len(door) == 7 * 24 * 12 + 1  # a weekend away is not a silent door; a month is
    assert max(t for t, v in door if v == 0.0) == at(7 * 24 * 60 - 5)


def test_other_text_states_are_quarantined_with_the_reason(tmp_path, db):
    text = HISTORY + "sensor.bathroom_humidity,heat,2024-03-01T10:41:00Z\n"
    [res] = ingest_files([history(tmp_path, text)], db=db)
    [(line, reason)] = query(db, "select line_number, reason from raw.quarantine")
    assert res.rows_quarantined == 1 and line == 14
    assert "state 'heat' of entity 'sensor.bathroom_humidity' is not a number" in reason


def test_a_row_without_entity_or_with_a_bad_time_is_quarantined(tmp_path, db):
    text = HISTORY + ",21,2024-03-01T10:41:00Z\nsensor.bathroom_humidity,50,yesterday\n"
    [res] = ingest_files([history(tmp_path, text)], db=db)
    assert query(db, "select line_number, reason from raw.quarantine order by 1") == [
        (14, "missing entity_id"), (15, "timestamp 'yesterday' is not a date/time")]
    assert res.rows_quarantined == 2


def test_map_renames_an_entity_and_a_map_naming_nothing_is_refused(tmp_path, db):
    [res] = ingest_files([history(tmp_path)], db=db, column_map={"sensor.living_room_temperature": "lounge"})
    assert "lounge" in res.sensors and "temperature" not in res.sensors
    with pytest.raises(IngestError, match="sensor.nowhere"):
        ingest_files([history(tmp_path, name="b.csv")], db=tmp_path / "o.duckdb",
                     column_map={"sensor.nowhere": "temperature"})


def test_map_gives_a_sensor_the_automatic_choice_would_give_another(tmp_path, db):
    text = HISTORY + "sensor.bedroom_temperature,19,2024-03-01T10:00:00Z\n"
    [res] = ingest_files([history(tmp_path, text)], db=db, column_map={"sensor.bedroom_temperature": "temperature"})
    assert query(db, "select value from raw.readings where sensor = 'temperature' order by reading_at limit 1") == [
        (19.0,)]
    assert "sensor_living_room_temperature" in res.sensors


def test_the_history_is_recognised_with_timestamp_column_named(tmp_path, db):
    [res] = ingest_files([history(tmp_path)], db=db, timestamp_column="last_changed")
    assert res.layout == "homeassistant" and "door" in res.sensors
    with pytest.raises(IngestError, match="no column named 'last_updated'"):
        ingest_files([history(tmp_path, name="b.csv")], db=db, timestamp_column="last_updated")


def test_reingesting_the_history_adds_nothing(tmp_path, db):
    src = history(tmp_path)
    ingest_files([src], db=db)
    before = query(db, "select count(*) from raw.readings")
    [again] = ingest_files([src], db=db)
    assert again.skipped and query(db, "select count(*) from raw.readings") == before
    copy = history(tmp_path, name="copy.csv")  # the same export under another name: readings all present
    [res] = ingest_files([copy], db=db, household="history")
    assert res.rows_loaded == 0 and query(db, "select count(*) from raw.readings") == before


def test_two_temperatures_are_not_guessed_and_keep_their_names(tmp_path, db):
    text = HISTORY + "sensor.bedroom_temperature,19,2024-03-01T10:00:00Z\n"
    [res] = ingest_files([history(tmp_path, text)], db=db)
    assert {"sensor_living_room_temperature", "sensor_bedroom_temperature"} <= set(res.sensors)
    assert "temperature" not in res.sensors and "humidity" in res.sensors



def test_outdoor_and_bathroom_temperatures_are_named_by_their_ids(tmp_path, db):
    """The domain rules' context sensors come automatically when the entity id says which room;
    the one remaining temperature is then the living room's."""
    text = (HISTORY + "sensor.outdoor_temperature,4,2024-03-01T10:00:00Z\n"
            "sensor.bathroom_temperature,20,2024-03-01T10:00:00Z\n")
    [res] = ingest_files([history(tmp_path, text)], db=db)
    assert {"temperature", "outdoor_temperature", "bathroom_temperature", "humidity"} <= set(res.sensors)
    assert series(db, "outdoor_temperature")[0][1] == 4.0
    assert series(db, "bathroom_temperature")[0][1] == 20.0


# ---------------------------------------------------------------- the entities file


def test_entities_file_maps_globs_households_and_skips(tmp_path, db):
    toml = tmp_path / "home.toml"
    toml.write_text('household = "flat_3"\n[entities]\n'
                    '"sensor.living_room_*" = "temperature"\n'
                    '"binary_sensor.front_*" = { sensor = "door", household = "hall" }\n'
                    '"sensor.bathroom_humidity" = false\n')
    said = []
    [res] = ingest_files([history(tmp_path)], db=db, entities=toml, progress=said.append)
    assert query(db, "select household_id, sensor from raw.readings group by all order by all") == [
        ("flat_3", "temperature"), ("hall", "door")]
    assert any("sensor.bathroom_humidity -> not loaded" in m for m in said)
    # another entities file is another load of the same bytes
    toml.write_text('[entities]\n"sensor.living_room_*" = "lounge"\n')
    [again] = ingest_files([history(tmp_path)], db=db, entities=toml)
    assert not again.skipped and "lounge" in again.sensors


@pytest.mark.parametrize("text, message", [
    ('[entities\n"a.b" = "x"', "not valid TOML"),
    ('[entities]\n"sensor.x" = 3\n', "must be a sensor name"),
    ('[entities]\n"kitchen" = "temperature"\n', "not an entity id or glob"),
    ('[entities]\n"sensor.x" = { sensor = "t", room = "k" }\n', "unknown key(s) room"),
    ('colour = "red"\n[entities]\n"sensor.x" = "t"\n', "unknown key(s) colour"),
    ('household = "flat"\n', "no [entities] table"),
])
def test_a_bad_entities_file_is_refused_naming_the_problem(tmp_path, db, text, message):
    toml = tmp_path / "home.toml"
    toml.write_text(text)
    with pytest.raises(IngestError) as err:
        ingest_files([history(tmp_path)], db=db, entities=toml)
    assert str(toml) in str(err.value) and message in str(err.value) and not db.exists()


def test_cli_ingest_with_entities_and_a_bad_one(tmp_path, db, capsys):
    from scripts.cli import main

    toml = tmp_path / "home.toml"
    toml.write_text('[entities]\n"binary_sensor.front_door" = "door"\n')
    assert main(["ingest", str(history(tmp_path)), "--db", str(db), "--entities", str(toml)]) == 0
    out, err = capsys.readouterr()
    assert "3 states unavailable or unknown (missing readings" in out
    assert "binary_sensor.front_door -> door" in err
    assert main(["ingest", str(history(tmp_path)), "--db", str(db), "--entities", str(tmp_path / "none.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_entities_with_no_home_assistant_file_is_refused(tmp_path, db):
    toml = tmp_path / "home.toml"
    toml.write_text('[entities]\n"sensor.x" = "temperature"\n')
    plain = tmp_path / "plain.csv"
    plain.write_text("timestamp,sensor,value\n2024-01-01 00:00:00,t,1\n")
    with pytest.raises(IngestError, match="no file of the command is a Home Assistant"):
        ingest_files([plain], db=db, entities=toml)


def test_two_entities_made_one_sensor_are_refused(tmp_path, db):
    toml = tmp_path / "home.toml"
    toml.write_text('[entities]\n"sensor.*" = "temperature"\n')
    with pytest.raises(IngestError, match="would both become sensor 'temperature'"):
        ingest_files([history(tmp_path)], db=db, entities=toml)


# ---------------------------------------------------------------- the recorder database

ENTITIES = [("sensor.living_room_temperature", {"unit_of_measurement": "°C", "device_class": "temperature"}),
            ("sensor.bathroom_humidity", {"unit_of_measurement": "%", "device_class": "humidity"}),
            ("binary_sensor.front_door", {"device_class": "door"}),
            ("light.kitchen", {"friendly_name": "Kitchen"}),
            ("sensor.sun_next_dawn", {"device_class": "timestamp"})]


def recorder(tmp_path, version: int = 41, name: str = "home assistant #1?.db"):
    """A recorder database: two hours of states from 10:00, and hourly statistics of the day before."""
    states = [("light.kitchen", "on", E0), ("sensor.sun_next_dawn", "2024-03-02T05:40:00+00:00", E0),
              ("binary_sensor.front_door", "off", E0),
              ("binary_sensor.front_door", "on", E0 + 120), ("binary_sensor.front_door", "off", E0 + 780),
              ("sensor.bathroom_humidity", "55", E0), ("sensor.bathroom_humidity", "unavailable", E0 + 600),
              ("sensor.bathroom_humidity", "60", E0 + 1500)]
    states += [("sensor.living_room_temperature", f"{20 + i / 10:.1f}", E0 + 600 * i) for i in range(13)]
    stats = [("sensor.living_room_temperature", E0 - 3600 * h, 18.0 + h / 10, 17.0, 19.0) for h in range(1, 4)]
    con = create_recorder_db(tmp_path / name, ENTITIES, sorted(states, key=lambda s: s[2]), stats, version)
    return tmp_path / name, con


def test_recorder_database_loads_the_right_sensors_and_values(tmp_path, db):
    path, con = recorder(tmp_path)
    said = []
    [res] = ingest_files([path], db=db, household="flat", progress=said.append)
    assert res.layout == "recorder" and set(res.sensors) == {"temperature", "humidity", "door"}
    assert any("not loaded, 2 entities that are not measuring sensors" in m
               and m.endswith(": light.kitchen, sensor.sun_next_dawn") for m in said)
    assert res.rows_quarantined == 0  # the timestamp sensor's text is not read
    temperature = dict(series(db, "temperature"))
    assert temperature[at(0)] == 20.0 and temperature[at(10)] == 20.1 and temperature[at(5)] == 20.0
    # the newest state is at 12:00: the step 12:00 has not ended, it is loaded by the next ingest
    assert temperature[at(115)] == 21.1 and max(temperature) == at(115)
    assert steps(db, "door")[:4] == [(at(0), 1.0), (at(5), 1.0), (at(10), 1.0), (at(15), 0.0)]
    assert res.missing == 1 and dict(series(db, "humidity")).get(at(10)) is None
    # the hours before the oldest state come from the long-term statistics (hourly means)
    assert temperature[at(-60)] == 18.1 and temperature[at(-180)] == 18.3 and temperature[at(-175)] == 18.3
    assert query(db, "select states_through_id from raw.ingest_watermarks") == [(21,)]


def test_second_recorder_ingest_loads_only_the_new_states(tmp_path, db):
    path, con = recorder(tmp_path)
    [first] = ingest_files([path], db=db)
    before = set(query(db, "select sensor, reading_at, value from raw.readings"))
    # later: the door opens at 12:10, the temperature moves on, the light says it is 12:20
    add_states(con, [("binary_sensor.front_door", "on", E0 + 7800), ("sensor.living_room_temperature", "21.5",
                                                                      E0 + 7810), ("light.kitchen", "off", E0 + 8400)])
    said = []
    [second] = ingest_files([path], db=db, progress=said.append)
    assert any("3 new states (state_id 22 to 24)" in m for m in said)  # read from the watermark on
    assert query(db, "select details->>'states_from_id' from raw.batches where batch_id = ?",
                 [second.batch_id]) == [("22",)]
    new = set(query(db, "select sensor, reading_at, value from raw.readings where batch_id = ?",
                    [second.batch_id]))
    assert before.isdisjoint(new) and second.batch_id != first.batch_id
    # the door, closed since 10:13, is held closed from where the first read stopped (12:00) to 12:10
    assert sorted(r for r in new if r[0] == "door") == [("door", at(m), float(m >= 130)) for m in (120, 125, 130, 135)]
    temperature = {r[1]: r[2] for r in new if r[0] == "temperature"}
    assert temperature[at(120)] == temperature[at(125)] == 21.2  # the 12:00 state, read again, held on
    assert temperature[at(130)] == pytest.approx(21.35) and temperature[at(135)] == 21.5
    [third] = ingest_files([path], db=db)
    assert third.batch_id is None and third.rows_loaded == 0
    assert query(db, "select count(*) from raw.readings") == [(len(before) + len(new),)]


def test_a_new_entity_does_not_rename_a_sensor_chosen_before(tmp_path, db):
    path, con = recorder(tmp_path)
    ingest_files([path], db=db)
    # a second temperature entity appears: alone, the automatic choice would give it to neither
    con.execute("insert into states_meta (entity_id) values ('sensor.bedroom_temperature')")
    con.execute("insert into state_attributes (hash, shared_attrs) values "
                "(0, '{\"unit_of_measurement\": \"°C\", \"device_class\": \"temperature\"}')")
    add_states(con, [("sensor.bedroom_temperature", "18.5", E0 + 7800),
                     ("sensor.living_room_temperature", "21.5", E0 + 7810), ("light.kitchen", "off", E0 + 8400)])
    said = []
    [res] = ingest_files([path], db=db, progress=said.append)
    assert ("temperature", at(135), 21.5) in set(query(db, "select sensor, reading_at, value from raw.readings"))
    assert "sensor_bedroom_temperature" in res.sensors
    assert any("sensor.living_room_temperature -> temperature" in m and "last ingest" in m for m in said)


def test_recorder_of_an_unknown_schema_is_refused(tmp_path, db):
    for version in (99, 30):
        path, _ = recorder(tmp_path, version, name=f"v{version}.db")
        with pytest.raises(IngestError, match=f"recorder schema version {version} is not one this HomeWatch reads"):
            ingest_files([path], db=db)
    assert not db.exists()


def test_a_sqlite_file_that_is_not_a_recorder_is_refused(tmp_path, db):
    import sqlite3

    other = tmp_path / "notes.db"
    sqlite3.connect(other).execute("create table notes (t text)")
    with pytest.raises(IngestError, match="no states and schema_changes tables, so it is not one"):
        ingest_files([other], db=db)


def test_map_and_entities_apply_to_a_recorder_database(tmp_path, db, capsys):
    from scripts.cli import main

    path, _ = recorder(tmp_path)
    toml = tmp_path / "home.toml"
    toml.write_text('household = "flat_3"\n[entities]\n"light.*" = "kitchen_light"\n')
    assert main(["ingest", str(path), "--db", str(db), "--entities", str(toml),
                 "--map", "sensor.bathroom_humidity=bathroom_rh"]) == 0
    out, err = capsys.readouterr()
    assert "sensor.bathroom_humidity -> bathroom_rh (home flat_3; --map)" in err
    assert query(db, "select distinct household_id, sensor from raw.readings order by 2") == [
        ("flat_3", "bathroom_rh"), ("flat_3", "door"), ("flat_3", "kitchen_light"), ("flat_3", "temperature")]
    assert "1 states unavailable or unknown" in out
    assert main(["ingest", str(path), "--db", str(db), "--entities", str(toml),
                 "--map", "sensor.bathroom_humidity=bathroom_rh"]) == 0
    assert "nothing new since the last ingest of this database" in capsys.readouterr().out


def test_fahrenheit_temperature_is_converted(tmp_path, db):
    path = tmp_path / "f.db"
    create_recorder_db(path, [("sensor.porch", {"unit_of_measurement": "°F", "device_class": "temperature"})],
                       [("sensor.porch", "68", E0), ("sensor.porch", "77", E0 + 60), ("sensor.porch", "77", E0 + 600)])
    ingest_files([path], db=db)
    assert series(db, "temperature") == [(at(0), 22.5), (at(5), 25.0)]  # 20 °C then 25 °C in the step 10:00


# ---------------------------------------------------------------- the recorder read, state by state


def _held(states, end: float) -> dict:
    """The grid readings of homeassistant.py's hold rule, computed state by state in Python (the
    rule as documented, written apart from the SQL): states (state_id, entity, state, t)."""
    from warehouse.ingest.homeassistant import BINARY_HOLD, BINARY_STATES, HOLD, MISSING_STATES

    step = 300.0
    by_entity: dict = {}
    for sid, entity, state, t in states:
        word = state.strip().lower()
        if word in MISSING_STATES:
            value = None
        elif word in BINARY_STATES:
            value = BINARY_STATES[word]
        else:
            try:
                value = float(word)
            except ValueError:
                continue  # quarantined: not in the sequence of states
        by_entity.setdefault(entity, []).append((t, sid, value, word in BINARY_STATES))
    readings = {}
    for entity, rows in by_entity.items():
        rows.sort()
        binary = all(b for _, _, v, b in rows if v is not None)
        hold = (BINARY_HOLD if binary else HOLD).total_seconds()
        steps: dict = {}
        for i, (t, _, value, _) in enumerate(rows):
            if value is None:
                continue
            until = min(rows[i + 1][0] - 1e-6 if i + 1 < len(rows) else end, end, t + hold - 1e-6)
            s = t // step * step
            while s <= max(t, until):
                if s + step <= end:
                    steps.setdefault(s, []).append(value)
                s += step
        for s, values in steps.items():
            readings[(entity, s)] = max(values) if binary else sum(values) / len(values)
    return readings


def test_recorder_readings_follow_the_hold_rule_state_by_state(tmp_path, db, monkeypatch):
    """Ties, states written out of time order, several states in a step, a state on a step's
    boundary, missing and text states, holds running out (a day, a week), and state_id gaps (read
    in small ranges, some whole and some not, as recorder.read_states does) give, reading by
    reading, what the rule computed state by state gives."""
    import random

    from warehouse.ingest import recorder as rec

    monkeypatch.setattr(rec, "CHUNK_STATES", 7)
    entities = [("sensor.t", {"unit_of_measurement": "°C", "device_class": "temperature"}),
                ("binary_sensor.door", {"device_class": "door"}),
                ("sensor.bath_humidity", {"unit_of_measurement": "%"})]
    rng = random.Random(3)
    t, states = E0, []
    for i in range(400):
        t += rng.choice([0, 0, 1, 59, 60, 240, 300, 301, 1800, 3600, 90_000, 700_000][: 12 if i % 40 == 0 else 10])
        entity = rng.choice(["sensor.t", "binary_sensor.door", "sensor.bath_humidity"])
        state = (rng.choice(["on", "off", " Off", "open", "unavailable"]) if entity.startswith("binary")
                 else rng.choice([f"{rng.uniform(0, 30):.2f}", "12", "unknown", "", "heat"]))
        states.append((entity, state, t - rng.choice([0, 0, 0, 0, 500])))  # some stamped before the last
    path = tmp_path / "home.db"
    con = create_recorder_db(path, entities, states)
    con.execute("delete from states where state_id in (300, 301, 350)")  # purged rows: id gaps
    con.commit()
    kept = con.execute("select state_id, m.entity_id, state, last_updated_ts from states "
                       "join states_meta m using (metadata_id)").fetchall()
    [res] = ingest_files([path], db=db, household="h")
    sensors = {"sensor.t": "temperature", "binary_sensor.door": "door", "sensor.bath_humidity": "humidity"}
    expected = {(sensors[e], E0_DT + dt.timedelta(seconds=s - E0)): v
                for (e, s), v in _held(kept, max(r[3] for r in kept)).items()}
    got = {(s, t): v for s, t, v in query(db, "select sensor, reading_at, value from raw.readings")}
    assert len(got) > 1000 and got.keys() == expected.keys()
    assert all(got[k] == pytest.approx(expected[k], abs=1e-9) for k in expected)
    heat = sorted(r[0] for r in kept if r[2] == "heat")  # quarantined: line_number is the state_id
    assert res.rows_quarantined == len(heat) and heat[-1] > 350
    assert query(db, "select line_number from raw.quarantine order by 1") == [(i,) for i in heat]


@pytest.mark.parametrize("odd", ["none", "line break", "carriage return", "separator", "real id", "text id",
                                 "large id", "empty last", "gap", "no id", "no time", "no ids"])
def test_the_column_read_gives_what_the_text_read_gives(tmp_path, monkeypatch, odd):
    """recorder.read_states asks SQLite for one text per column; ranges that text cannot carry (a
    line break in a state, ids that are not small integers, a number too large for 64 bits) are
    read as one text a state, as before: state by state, both reads give the same rows."""
    from warehouse.ingest import recorder as rec

    monkeypatch.setattr(rec, "CHUNK_STATES", 5)
    states = [(e, s, E0 + 30 * i) for i, (e, s) in enumerate(
        [("sensor.t", "20.5"), ("binary_sensor.door", "on"), ("sensor.t", ""), ("binary_sensor.door", "off"),
         ("sensor.t", "21"), ("sensor.t", "unknown"), ("binary_sensor.door", "on"), ("sensor.t", "21.5")] * 3)]
    path = tmp_path / "odd.db"
    con = create_recorder_db(path, [("sensor.t", {"device_class": "temperature"}),
                                    ("binary_sensor.door", {"device_class": "door"})], states)
    change = {"line break": "update states set state = 'a' || char(10) || '21' where state_id = 7",
              "carriage return": "update states set state = '22' || char(13) where state_id = 12",
              "separator": "update states set state = '2' || char(31) || '3' where state_id = 9",
              "real id": "update states set metadata_id = 1.5 where state_id = 8",
              "text id": "update states set metadata_id = 'x' where state_id = 4",
              "large id": "update states set metadata_id = 100000 where state_id = 3",
              "empty last": "update states set state = NULL where state_id in (5, 10)",
              "gap": "delete from states where state_id in (2, 13)",
              "no id": "update states set metadata_id = NULL where state_id = 6",
              "no time": "update states set last_updated_ts = NULL where state_id = 14",
              "no ids": "update states set metadata_id = NULL where state_id between 11 and 15"}.get(odd)
    if change:
        con.execute(change)
        con.commit()
    to_id = con.execute("select max(state_id) from states").fetchone()[0]
    with_ids, parts = [False], []
    for lo in range(0, to_id, rec.CHUNK_STATES):
        parts.append(rec._read_chunk_text(path, lo, min(lo + rec.CHUNK_STATES, to_id), with_ids))
    rows = rec.read_states(path, 0, to_id).to_pylist()
    assert len(rows) >= 19 and rows == rec.pa.concat_tables(parts).to_pylist()
