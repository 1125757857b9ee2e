"""Home Assistant states: which HomeWatch sensor each entity is, and its states as grid readings.

Both Home Assistant sources, a history CSV (`entity_id,state,last_changed`) and the recorder
database (recorder.py), come down to temp table hw_ha_states(rn, entity_id, state, changed_at,
carried): one row per state change. This module maps entities to sensors (an --entities TOML
file, --map, else an automatic default), parses states, and expands changes into readings.

States: a number is the value; a binary word is 1 or 0 (BINARY_STATES); `unavailable`,
`unknown` and an empty state are missing readings (counted, not quarantined); anything else
is quarantined with its reason.

Home Assistant records a state when it changes, not at every grid step, so each state is
held: it is in effect from its change up to the next state (exclusive), at most HOLD (a number)
or BINARY_HOLD (a binary state), and never past the end of the data (the newest state time of
the source). Each entity then gives one reading per grid step it has a state in effect in, at
the step's start, as the simulator's sensors do: the maximum of those states for an entity whose
states are all binary words (open at any time in the step is open), else their mean. A door
`on` at 10:02 and `off` at 10:13 is 1 at 10:00, 10:05 and 10:10 and 0 from 10:15. A state held
longer than its hold becomes missing after it, so one state never makes more than hold / step
readings: the work is bounded by the data.

How (expand): the states are grouped by entity and step first; only the last state of a step
can be in effect after it (until the first state of the entity's next step with one), so only
it is spread over the steps that follow, and the window that finds the next state runs over
steps, not states.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path

from warehouse.ingest.model import IngestError, normalise_name
from warehouse.ingest.sql import _lit, _plausible

# Binary states and their value; documented in docs/warehouse.md ("Home Assistant").
BINARY_STATES = {"on": 1.0, "off": 0.0, "open": 1.0, "closed": 0.0, "detected": 1.0, "clear": 0.0,
                 "true": 1.0, "false": 0.0, "home": 1.0, "not_home": 0.0}
MISSING_STATES = ("unavailable", "unknown", "")  # and NULL: a missing reading, not a problem
NOT_MEASURING = "not a measuring sensor"  # why a recorder entity is not loaded by default
HOLD = dt.timedelta(hours=24)  # the longest a number is held (forward-filled) after it changed: then it is missing
# ... and a binary state: a door, a motion or smoke detector sits in one state for days (a
# weekend away) without a new row, while a temperature silent for a day is a dead sensor
BINARY_HOLD = dt.timedelta(days=7)
DEFAULT_STEP = dt.timedelta(minutes=5)  # the dbt default step, until the warehouse's first build records one

# Automatic defaults: (HomeWatch sensor, domains, device classes, name words, units). An entity
# qualifies by its device class or unit when known, else by a word of its id; a sensor is given
# automatically only when exactly one entity of the home qualifies for it. The fridge's power and
# the outdoor and bathroom temperatures also need their word in the id (NAMED_ONLY), and an
# entity given one of those is no longer a candidate for the plain kind.
KINDS = (
    ("door", ("binary_sensor",), ("door", "garage_door"), ("door",), ()),
    ("motion", ("binary_sensor",), ("motion", "occupancy", "presence"), ("motion", "pir", "occupancy"), ()),
    ("fire_alarm", ("binary_sensor",), ("smoke", "heat"), ("smoke", "fire"), ()),
    # the two context temperatures the domain rules read: only when the name says which it is
    ("outdoor_temperature", ("sensor",), ("temperature",), ("temperature", "temp"), ("°C", "°F", "C", "F")),
    ("bathroom_temperature", ("sensor",), ("temperature",), ("temperature", "temp"), ("°C", "°F", "C", "F")),
    ("temperature", ("sensor",), ("temperature",), ("temperature", "temp"), ("°C", "°F", "C", "F")),
    ("humidity", ("sensor",), ("humidity",), ("humidity", "humid"), ()),
    ("fridge_power", ("sensor",), ("power",), ("fridge", "refrigerator"), ()),
)
NAMED_ONLY = {"fridge_power": ("fridge", "refrigerator"), "outdoor_temperature": ("outdoor", "outside", "exterior"),
              "bathroom_temperature": ("bathroom",)}


def grid_step(con=None) -> dt.timedelta:
    """The warehouse's grid step (warehouse.grid_step: the one its builds recorded), else, before
    a first build, DEFAULT_STEP."""
    from warehouse import grid_step as warehouse_grid_step

    seconds = warehouse_grid_step(con) if con is not None else None
    return dt.timedelta(seconds=seconds) if seconds else DEFAULT_STEP


@dataclasses.dataclass(frozen=True)
class EntityRule:
    """One line of the entities file: an entity id or glob, and what it becomes."""

    pattern: str
    sensor: str | None  # None: the entity is not loaded (`false` in the file)
    household: str | None = None


@dataclasses.dataclass
class Entity:
    """What is known of one entity, and the sensor chosen for it."""

    entity_id: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None  # 'measurement', 'total', ...: the state is a number
    sensor: str | None = None  # None: not loaded
    household: str | None = None
    why: str = ""
    scale: float = 1.0  # value = state * scale + offset (°F -> °C for temperature)
    offset: float = 0.0

    @property
    def domain(self) -> str:
        return self.entity_id.split(".", 1)[0]


def load_entities(path: str | Path) -> tuple[list[EntityRule], str | None]:
    """Read an --entities TOML file: (rules in file order, default household or None).

        household = "flat_3"                      # optional: the home of every entity
        [entities]
        "sensor.living_room_temperature" = "temperature"
        "binary_sensor.front_door*" = { sensor = "door", household = "flat_3" }
        "sensor.*_battery" = false               # not loaded

    Raises IngestError naming the file and the problem.
    """
    label = str(path)
    try:
        data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IngestError(f"--entities {label}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"--entities {label}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise IngestError(f"--entities {label}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"household", "entities"}
    if unknown:
        raise IngestError(f"--entities {label}: unknown key(s) {', '.join(sorted(unknown))}; the file holds an "
                          "optional `household = \"name\"` and an [entities] table of `\"entity id or glob\" = "
                          "\"sensor\"` lines")
    household = data.get("household")
    if household is not None and (not isinstance(household, str) or not household.strip()):
        raise IngestError(f"--entities {label}: household must be a non-empty string, got {household!r}")
    entities = data.get("entities")
    if not isinstance(entities, dict) or not entities:
        raise IngestError(f"--entities {label}: no [entities] table; add lines like "
                          "\"sensor.living_room_temperature\" = \"temperature\" under [entities]")
    rules = []
    for pattern, target in entities.items():
        rules.append(_rule(label, pattern, target))
    return rules, household and household.strip()


def _rule(label: str, pattern: str, target) -> EntityRule:
    where = f"--entities {label}: entity {pattern!r}"
    if "." not in pattern:
        raise IngestError(f"{where}: not an entity id or glob (they look like sensor.kitchen_temperature "
                          "or binary_sensor.*door*)")
    if target is False:
        return EntityRule(pattern.lower(), None)
    if isinstance(target, str):
        target = {"sensor": target}
    if not isinstance(target, dict):
        raise IngestError(f"{where}: the value must be a sensor name, false, or {{ sensor = ..., household = ... }}, "
                          f"got {target!r}")
    extra = set(target) - {"sensor", "household"}
    if extra:
        raise IngestError(f"{where}: unknown key(s) {', '.join(sorted(extra))} (allowed: sensor, household)")
    sensor, household = target.get("sensor"), target.get("household")
    if not isinstance(sensor, str) or not normalise_name(sensor):
        raise IngestError(f"{where}: sensor must be a name with letters or digits, got {sensor!r}")
    if household is not None and (not isinstance(household, str) or not household.strip()):
        raise IngestError(f"{where}: household must be a non-empty string, got {household!r}")
    return EntityRule(pattern.lower(), normalise_name(sensor), household and household.strip())


def rules_key(rules: list[EntityRule] | None, household: str | None) -> str | None:
    """The entities file as it changes a load, for the idempotency key; None when there is none."""
    if rules is None:
        return None
    return json.dumps([household, [dataclasses.astuple(r) for r in rules]])


def choose_sensors(entities: list[Entity], rules: list[EntityRule] | None, column_map: Mapping[str, str],
                   default_household: str, only_known: bool = False,
                   remembered: Mapping[str, str | None] | None = None) -> list[str]:
    """Give each entity its sensor and household (in place); the lines that say what was chosen.

    In order: --map (exact entity id), the entities file (first matching line), what an earlier
    ingest of the same database chose (remembered: so a nightly ingest does not rename a sensor
    when, say, a second temperature entity appears), the automatic default (KINDS), else the
    entity's own name. only_known (the recorder database, which holds
    every entity of the home): entities that are neither mapped nor a binary_sensor nor a
    sensor with a unit or a state class are not loaded (a timestamp, date or enum sensor holds
    text). Two entities that would be one sensor of one
    home are refused.
    """
    rules, remembered = rules or [], remembered or {}
    rule_of = {e.entity_id: next((r for r in rules if fnmatch.fnmatchcase(e.entity_id, r.pattern)), None)
               for e in entities}
    explicit = {e.entity_id for e in entities if e.entity_id in column_map or rule_of[e.entity_id]}
    claimed = {normalise_name(column_map[i]) for i in explicit if i in column_map}
    claimed |= {r.sensor for i, r in rule_of.items() if r is not None and i in explicit and i not in column_map}
    kept = {e.entity_id for e in entities if e.entity_id in remembered and e.entity_id not in explicit}
    claimed |= {remembered[i] for i in kept}
    explicit |= kept
    # a sensor the user gave to an entity is not also given automatically to another
    auto = _automatic([e for e in entities if e.entity_id not in explicit], claimed)
    for e in entities:
        rule = rule_of[e.entity_id]
        if e.entity_id in column_map:
            e.sensor, e.why = normalise_name(column_map[e.entity_id]), "--map"
        elif rule is not None:
            e.sensor, e.household = rule.sensor, rule.household
            e.why = f"--entities {rule.pattern!r}" if rule.sensor else f"--entities {rule.pattern!r} = false"
        elif e.entity_id in kept:
            e.sensor, e.why = remembered[e.entity_id], "as the last ingest of this database chose"
        elif e.entity_id in auto:
            e.sensor, e.why = auto[e.entity_id]
        elif only_known and not (e.domain == "binary_sensor" or (e.domain == "sensor" and (e.unit or e.state_class))):
            e.sensor, e.why = None, NOT_MEASURING
        else:
            e.sensor, e.why = normalise_name(e.entity_id), "its own name"
        e.household = e.household or default_household
        if (e.sensor or "").endswith("temperature") and (e.unit or "").upper().lstrip("°") == "F":
            e.scale, e.offset, e.why = 5 / 9, -32 * 5 / 9, e.why + ", °F converted to °C"
    seen: dict[tuple[str, str], str] = {}
    for e in entities:
        if e.sensor is None:
            continue
        other = seen.setdefault((e.household, e.sensor), e.entity_id)
        if other != e.entity_id:
            raise IngestError(f"entities {other!r} and {e.entity_id!r} would both become sensor {e.sensor!r} of "
                              f"home {e.household!r}; map one to another name with --entities or --map, e.g. "
                              f"--map {e.entity_id}={e.sensor}_2")
    ordered = sorted(entities, key=lambda x: x.entity_id)
    lines = [f"{e.entity_id} -> " + (f"{e.sensor} (home {e.household}; {e.why})" if e.sensor else
                                     f"not loaded: {e.why}") for e in ordered if e.why != NOT_MEASURING]
    skipped = [e.entity_id for e in ordered if e.why == NOT_MEASURING]
    if skipped:  # a home has many (lights, switches, automations...): one line for them all
        more = f" and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        lines.append(f"not loaded, {len(skipped)} entities that are not measuring sensors (name one in --entities "
                     f"to load it): {', '.join(skipped[:20])}{more}")
    return lines


def _automatic(entities: list[Entity], claimed: set) -> dict[str, tuple[str, str]]:
    """entity id -> (sensor, why) for the KINDS exactly one entity qualifies for (and none claimed)."""
    chosen = {}
    for sensor, domains, classes, words, units in KINDS:
        if sensor in claimed:
            continue
        fits = [e for e in entities if e.domain in domains and e.entity_id not in chosen
                and _qualifies(e, classes, words, units)]
        if sensor in NAMED_ONLY:  # a power sensor is the fridge's only when its name says so
            fits = [e for e in fits if any(w in e.entity_id for w in NAMED_ONLY[sensor])]
        if len(fits) == 1:
            chosen[fits[0].entity_id] = (sensor, f"automatic: the one {sensor} entity")
    return chosen


def _qualifies(e: Entity, classes, words, units) -> bool:
    if e.device_class:
        return e.device_class in classes
    if units and e.unit:
        return e.unit in units
    name = e.entity_id.split(".", 1)[-1]
    return any(w in name for w in words)


def register_entities(con, entities: list[Entity]) -> None:
    """Temp table hw_ha_entities: each loaded entity's sensor, household and unit conversion."""
    con.execute("create or replace temp table hw_ha_entities (entity_id varchar, sensor varchar, "
                "household_id varchar, scale double, shift double, eid integer)")
    rows = [[e.entity_id, e.sensor, e.household, e.scale, e.offset, i]
            for i, e in enumerate(x for x in entities if x.sensor)]
    if rows:
        con.executemany("insert into hw_ha_entities values (?, ?, ?, ?, ?, ?)", rows)


def _state_value() -> str:
    """SQL: the value of a state, from `word` (lower-cased, trimmed), `scale` and `shift`; NULL when
    it is neither a number nor a binary word."""
    cases = " ".join(f"when {_lit(k)} then {v}" for k, v in BINARY_STATES.items())
    return f"case word {cases} else try_cast(word as double) * scale + shift end"


def expand(con, step: dt.timedelta, end_at: dt.datetime, first_step: dt.datetime | None, complete_only: bool,
           limits: dict, prepared: bool = False) -> dict:
    """From hw_ha_states and hw_ha_entities, make hw_good (one reading per entity and grid step
    while a state is in effect) and hw_bad (states that are not values); the counts.

    A step's value is the mean of the states in effect during it, or for an entity whose states
    are all binary words, their maximum (open at any time in the step is open). Steps start at
    first_step (None: wherever the states start) and end at end_at: with complete_only, only
    steps that ended by end_at (the rest is read again next time, see recorder.py). carried
    states (the state in effect before first_step) count for no problem and no missing state.
    limits: the parameters of sql._plausible.

    prepared: the caller made hw_ha_values (as values() does) and hw_ha_nums, its numeric
    columns (rn, eid, changed_at, carried, is_missing, is_binary, value) with next_at, the time
    of the entity's next state among those that give a reading (NULL for its last one); else
    values() makes them from hw_ha_states and next_at is computed here.
    """
    if not prepared:
        values(con)
    params = {**limits, "end_at": end_at, "first_step": first_step or dt.datetime(1, 1, 1)}
    times = _plausible("changed_at")
    con.execute(f"""
        create temp table hw_bad as
        select rn, household_id,
               format('state ''{{}}'' of entity ''{{}}'' is not a number nor a known binary state '
                      '(on/off, open/closed, detected/clear, true/false, home/not_home)', state, entity_id) as reason
        from hw_ha_values
        where not carried and not is_missing and not coalesce(isfinite(value), false) and {times}""",
                {k: v for k, v in params.items() if f"${k}" in times})
    step_sql = f"to_microseconds({int(step / dt.timedelta(microseconds=1))})"
    hold_sql = (f"(case when is_binary then to_microseconds({int(BINARY_HOLD / dt.timedelta(microseconds=1))}) "
                f"else to_microseconds({int(HOLD / dt.timedelta(microseconds=1))}) end)")
    last = f"step_at + {step_sql} <= $end_at" if complete_only else "step_at <= $end_at"
    con.execute(f"""
        create temp table hw_good as
        with kinds as (
            select eid, e.household_id, e.sensor, coalesce(n.is_binary, false) as is_binary
            from (select eid, bool_and(is_binary) filter (where not is_missing) as is_binary
                  from hw_ha_nums group by eid) n
            join hw_ha_entities e using (eid)
        ),
        steps as (
            -- per entity and grid step, the states that changed in it: their values (NULL: a
            -- missing state), and the last of them by time, then rn (key: both in one number),
            -- the only one that can be in effect after the step
            select eid, time_bucket({step_sql}, changed_at) as step_at,
                   max(value) as high, sum(value) as total, count(value) as n,
                   min(rn) filter (where value is not null) as rn, min(changed_at) as first_at,
                   max(key) as last_key, arg_max_null(value, key) as last_value
            from (select eid, changed_at, rn, case when not is_missing then value end as value,
                         (epoch_us(changed_at)::hugeint << 64) + (rn::hugeint + {1 << 63}::hugeint) as key
                  from hw_ha_nums where (is_missing or isfinite(value)) and {times})
            group by all
        ),
        after as (
            -- the last state of a step is in effect up to the next state (the first of the next step
            -- with one), at most HOLD (binary: BINARY_HOLD), not past end_at: the steps after its own
            select eid, last_value as value, last_rn as rn,
                   unnest(generate_series(step_at + {step_sql}, last_at, {step_sql})) as step_at
            from (select s.*, k.is_binary,
                         greatest(last_changed,
                                  least(coalesce(lead(first_at) over (partition by eid order by step_at)
                                                 - to_microseconds(1), $end_at), $end_at,
                                        last_changed + {hold_sql} - to_microseconds(1))) as last_at
                  from (select *, make_timestamp(cast(last_key >> 64 as bigint)) as last_changed,
                               cast((last_key & {(1 << 64) - 1}::hugeint) - {1 << 63}::hugeint as bigint) as last_rn
                        from steps) s
                  join kinds k using (eid))
            where last_value is not null and last_at >= step_at + {step_sql}
        ),
        stepped as (
            select eid, step_at, max(high) as high, sum(total) / sum(n) as mean, min(rn) as rn, bool_or(own) as changed
            from (select eid, step_at, high, total, n, rn, true as own from steps where n > 0
                  union all
                  select eid, step_at, value, value, 1, rn, false from after)
            where step_at >= $first_step and {last}
            group by eid, step_at
        )
        select k.household_id, k.sensor, s.step_at as reading_at,
               case when k.is_binary then s.high else s.mean end as value, s.rn, s.changed
        from stepped s join kinds k using (eid)""",
                {k: v for k, v in params.items() if f"${k}" in times + last + " $end_at $first_step"})
    counts = con.execute("""
        select count(*) filter (where is_missing and not carried),
               count(*) filter (where not carried and not is_missing and isfinite(value)),
               (select count(*) filter (where not changed) from hw_good),
               (select count(*) from hw_good)
        from hw_ha_nums""").fetchone()
    return dict(zip(("missing", "valued", "held", "readings"), counts))


def values(con) -> None:
    """hw_ha_values: each state of hw_ha_states of a loaded entity with its value and kind; and
    hw_ha_nums, the columns of it that expand() reads on every row."""
    missing = ", ".join(_lit(m) for m in MISSING_STATES)
    binary = ", ".join(_lit(b) for b in BINARY_STATES)
    con.execute(f"""
        create or replace temp table hw_ha_values as
        select rn, entity_id, eid, sensor, household_id, changed_at, carried, state,
               word is null or word in ({missing}) as is_missing, word in ({binary}) as is_binary,
               {_state_value()} as value
        from (select s.*, e.*, lower(trim(s.state)) as word
              from hw_ha_states s join hw_ha_entities e using (entity_id)
              where s.changed_at is not null)""")
    con.execute("create or replace temp view hw_ha_nums as "
                "select rn, eid, changed_at, carried, is_missing, is_binary, value from hw_ha_values")


def words(con, table: str) -> None:
    """Temp table hw_ha_words from `table` (sid, state): what each distinct state text is, as
    values() reads it: is_missing, is_binary, bin_value (its 1 or 0) and num_value (the text as a
    number, to be scaled: NULL when it is not one)."""
    missing = ", ".join(_lit(m) for m in MISSING_STATES)
    binary = ", ".join(_lit(b) for b in BINARY_STATES)
    cases = " ".join(f"when {_lit(k)} then {v}" for k, v in BINARY_STATES.items())
    con.execute(f"""
        create or replace temp table hw_ha_words as
        select sid, state, word is null or word in ({missing}) as is_missing, word in ({binary}) as is_binary,
               case word {cases} end as bin_value, try_cast(word as double) as num_value
        from (select sid, state, lower(trim(state)) as word from {table})""")


def bad_times(con, limits: dict) -> int:
    """Add to hw_bad the states whose time is outside the load's limits; how many."""
    return con.execute(f"""
        insert into hw_bad
        select rn, household_id, format('timestamp ''{{}}'' is outside the accepted times ({{}} to {{}} UTC)',
                                        strftime(changed_at, '%Y-%m-%d %H:%M:%S'),
                                        strftime($earliest, '%Y-%m-%d'), strftime($latest, '%Y-%m-%d %H:%M'))
        from hw_ha_values where not carried and not {_plausible('changed_at')}""",
                       {k: limits[k] for k in ("earliest", "latest")}).fetchone()[0]


def finish_good(con) -> bool:
    """Drop the helper column of hw_good; whether a household, sensor and time occurs twice."""
    con.execute("alter table hw_good drop column changed")
    repeats = con.execute("select count(*) from (select 1 from hw_good group by hash(household_id, sensor, "
                          "reading_at) having count(*) > 1)").fetchone()[0] > 0
    if not repeats:
        con.execute("alter table hw_good rename to hw_keys")
    con.execute("create temp table hw_conflicts (rn bigint, household_id varchar, reason varchar)")
    return repeats


# --- the history CSV ----------------------------------------------------------------------------

HISTORY_COLUMNS = ("entity_id", "state")  # with last_changed or last_updated: a Home Assistant history CSV
HISTORY_TIMES = ("last_changed", "last_updated")


def history_roles(names: list[str]) -> tuple[int, int, int] | None:
    """(entity, state, time) column indexes when the header is a Home Assistant history export."""
    keys = [n.strip().lower() for n in names]
    if not all(c in keys for c in HISTORY_COLUMNS):
        return None
    ts = next((keys.index(t) for t in HISTORY_TIMES if t in keys), None)
    if ts is None:
        return None
    return keys.index("entity_id"), keys.index("state"), ts


@dataclasses.dataclass(frozen=True)
class Options:
    """What the command says about Home Assistant entities: --entities rules and --map."""

    rules: list[EntityRule] | None = None
    household: str | None = None  # the entities file's household
    column_map: Mapping[str, str] = dataclasses.field(default_factory=dict)


def parse_csv(con, plan, ts: str, default_household: str, options: Options, limits: dict, progress,
              rn: str) -> tuple[int, int, bool, dict]:
    """Parse a staged history CSV (hw_stage) into hw_keys/hw_good and hw_bad, like load._parse.

    Returns (state rows that gave a value, problems, repeats, details for the batch).
    """
    from warehouse.ingest.sql import _text, _ts_problem

    con.execute(f"""
        create temp table hw_ha_states as
        select {rn} as rn, lower(trim({_text(plan, plan.sensor)})) as entity_id, {_text(plan, plan.value)} as state,
               {ts} as changed_at, false as carried, {_text(plan, plan.ts)} as ts_text
        from hw_stage""")
    ids = [r[0] for r in con.execute("select distinct entity_id from hw_ha_states where entity_id <> '' "
                                     "order by 1").fetchall()]
    entities = [Entity(i) for i in ids]
    household = options.household or default_household
    for line in choose_sensors(entities, options.rules, options.column_map, household):
        progress(f"{plan.given}: {line}")
    register_entities(con, entities)
    step = grid_step(con)
    counts = expand(con, step, _end_of_data(con), None, False, limits)
    problem = _ts_problem("s.ts_text", "s.changed_at")
    con.execute(f"""
        insert into hw_bad
        select s.rn, coalesce(e.household_id, {_lit(household)}),
               coalesce(case when s.entity_id is null or s.entity_id = '' then 'missing entity_id' end, {problem})
        from hw_ha_states s left join hw_ha_entities e using (entity_id)
        where s.entity_id is null or s.entity_id = '' or ({problem}) is not null""",
                {k: v for k, v in limits.items() if f"${k}" in problem})
    problems = con.execute("select count(*) from hw_bad").fetchone()[0]
    problems += con.execute("select count(distinct line) from hw_rejects").fetchone()[0]
    valued = counts["valued"]
    skipped = con.execute("select count(*) from hw_ha_states where entity_id <> '' and entity_id not in "
                          "(select entity_id from hw_ha_entities)").fetchone()[0]
    repeats = finish_good(con)
    details = {"homeassistant": {"entities": {e.entity_id: e.sensor for e in entities},
                                 "missing_states": counts["missing"], "held_readings": counts["held"],
                                 "not_loaded_states": skipped, "grid_step_minutes": step.total_seconds() / 60,
                                 "hold_hours": HOLD.total_seconds() / 3600,
                                 "binary_hold_hours": BINARY_HOLD.total_seconds() / 3600}}
    return valued, problems, repeats, {"ids": ids, "details": details, "missing": counts["missing"]}


def _end_of_data(con) -> dt.datetime:
    """The newest state time of the source: no state is held past it."""
    return con.execute("select max(changed_at) from hw_ha_states").fetchone()[0] or dt.datetime(1, 1, 1)


def drop_temp_tables(con) -> None:
    views = {r[0] for r in con.execute("select view_name from duckdb_views() where temporary").fetchall()}
    for name in ("hw_ha_nums", "hw_ha_states", "hw_ha_values", "hw_ha_entities", "hw_ha_words"):
        con.execute(f"drop {'view' if name in views else 'table'} if exists {name}")
