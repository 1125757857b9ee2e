"""People's answers (labels) and what they change.

A label is `true` (a real incident), `false` (nothing: a false alarm) or `unsure`, optionally
with the class it really was. The newest label of an alert counts (relabelling replaces).
`homewatch alerts dismiss` counts as a `false` label.

What the labels of one household and class change (bounded, logged, reversible). For the
generic classes (sensor_anomaly, sensor_health) everything below is per household, class *and
sensor*: "this sensor's departures are usual here" must not silence the household's other
sensors, where a real fault may start tomorrow. A generic alert about k sensors counts 1/k label
for each (it does not say which one was the nuisance) and is held back only if every one of its
sensors is; the household as a whole (sensor None, each alert once) gets a strictness capped at
max_strictness_household (1: low severity), and no pattern or gate of its own.

- strictness = clamp(#false - #true, 0, cap): 1 holds back low-severity alerts of that
  household and class, 2 also alerts only one detector saw, 3 all of them (suppression.py).
  The cap is max_strictness (3) for the generic classes (sensor_anomaly, sensor_health: "this
  series is unusual", which a household can teach is usual for it) and max_strictness_named
  (1) for a class a rule or the classifier named (a fridge failing, a door at night): a few
  false alarms must not silence a real danger, so there only low severity and the quiet
  patterns below act. A `true` label lowers it again; relabelling undoes a label.
- quiet patterns (the same household, class, hour and shape): `pattern_labels` false alarms
  of the household and class that started at local hours within `pattern_window_hours` (1) of
  each other make a pattern, whose shape is the longest of them. Later alerts starting within
  that window and lasting at most `pattern_shape_factor` (2) times that long are held back; one
  that goes on longer is sent at the next batch (store.py asks again). A `true` label near that
  hour removes the pattern. A false alarm longer than `pattern_max_minutes` (720) makes no
  pattern: it is no routine of an hour.
- what the labels of all homes (the fleet) add; the household's own label is always needed:
  one false alarm makes a quiet pattern where false alarms of the class near that hour came
  from at least `fleet_min_labels` (3) homes and at most `fleet_max_true_share` (0.2) of the
  labels near it were true; and a duration gate: `pattern_labels` false alarms of the
  household and class, none of its true ones as short as the gate (pattern_shape_factor x the
  longest false one, at least pattern_shape_min_minutes), hold back its alerts up to the gate
  until they outlast it, where at least fleet_min_labels true alerts of the class exist in all
  homes and at most fleet_max_true_share of them are that short (real failures last longer
  than the blips; a class whose real alerts are short, a door at night, never gets one).
  A label therefore recomputes every household of its class.
- a fire is never held back, whatever the labels.

Every change is a row of ops.alert_adaptations (old and new value, the label that caused it
and why), which `homewatch alerts explain ID` prints. Adaptations act on alerts opened after
them; they never touch an alert already sent.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from warehouse.alerts.config import AlertConfig
from warehouse.alerts.lifecycle import alert, set_status_in_transaction, utcnow
from warehouse.dbhelpers import transaction
from warehouse.taxonomy import ANOMALY_CLASSES, CLASS_OF

LABELS = ("true", "false", "unsure")
GENERIC = ("sensor_anomaly", "sensor_health")   # the generic layer's classes: "unusual", not a named danger
KNOWN_CLASSES = (*[c for c in CLASS_OF if c != "normal"], "sensor_anomaly", "sensor_health", "normal")


class FeedbackError(ValueError):
    """A label that cannot be recorded; the message says which and why."""


def parse_class(text: str | None) -> str | None:
    """A class given as its number (0-5) or name; None when not given."""
    if text is None or str(text).strip() == "":
        return None
    text = str(text).strip()
    if text.isdigit() and int(text) in ANOMALY_CLASSES:
        return ANOMALY_CLASSES[int(text)]
    if text in KNOWN_CLASSES:
        return text
    raise FeedbackError(f"class {text!r} is not a class number 0-5 or one of {', '.join(KNOWN_CLASSES)}")


def subjects(alert_class: str, sensors) -> list[str | None]:
    """What a label of an alert teaches about: its sensors for a generic class, else the
    household as a whole (None)."""
    return sorted(set(sensors)) if alert_class in GENERIC and sensors else [None]


def current_adaptations(con) -> tuple[dict[tuple[str, str, str | None], int],
                                      dict[tuple[str, str, str | None, int], int],
                                      dict[tuple[str, str, str | None], int]]:
    """(strictness by (household, class, sensor), active quiet patterns: (household, class,
    sensor, local hour) -> the longest false alarm of the pattern in minutes, duration gates by
    (household, class, sensor): alerts lasting at most that many minutes are held back) from the
    adaptation log. The sensor is None for a named class (and for generic adaptations logged
    before they were per sensor)."""
    rows = con.execute(
        "select household_id, alert_class, sensor, kind, hour_of_day, new_value from ops.alert_adaptations "
        "qualify row_number() over (partition by household_id, alert_class, sensor, kind, hour_of_day "
        "order by adaptation_id desc) = 1").fetchall()
    strictness = {(h, c, s): v for h, c, s, k, _, v in rows if k == "strictness" and v}
    patterns = {(h, c, s, hour): v for h, c, s, k, hour, v in rows if k == "quiet_pattern" and v}
    gates = {(h, c, s): v for h, c, s, k, _, v in rows if k == "duration_gate" and v}
    return strictness, patterns, gates


def _local_hour(zones: dict[str, str], household: str, at: dt.datetime) -> int:
    return at.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(zones.get(household) or "UTC")).hour


def _minutes(start: dt.datetime, end: dt.datetime) -> int:
    return int((end - start).total_seconds() // 60)


def _near(a: int, b: int, width: int) -> bool:
    return min((a - b) % 24, (b - a) % 24) <= width


def record_label(con, config: AlertConfig, alert_id: int, label: str, *, corrected_class: str | None = None,
                 note: str | None = None, source: str = "label", in_transaction: bool = False) -> int:
    """Store one label and adapt (see the module doc). A `false` label dismisses an open or
    acknowledged alert. Returns the feedback id."""
    if label not in LABELS:
        raise FeedbackError(f"label {label!r} is not one of {', '.join(LABELS)}")
    if in_transaction:
        return _record(con, config, alert_id, label, parse_class(corrected_class), note, source)
    with transaction(con):
        return _record(con, config, alert_id, label, parse_class(corrected_class), note, source)


def _record(con, config, alert_id, label, corrected_class, note, source) -> int:
    row = alert(con, alert_id)
    feedback_id = con.execute("select coalesce(max(feedback_id), 0) + 1 from ops.alert_feedback").fetchone()[0]
    con.execute("insert into ops.alert_feedback values (?, ?, ?, ?, ?, ?, ?)",
                [feedback_id, alert_id, label, corrected_class, note, source, utcnow()])
    if label == "false" and source != "dismiss" and row["status"] in ("open", "acknowledged"):
        set_status_in_transaction(con, config, alert_id, "dismiss", note or "labelled false")
    _adapt(con, config, row["household_id"], row["alert_class"], subjects(row["alert_class"], row["sensors"]),
           feedback_id)
    return feedback_id


@dataclasses.dataclass
class _Label:
    household: str
    sensor: str | None  # what it teaches about: a generic alert's sensor, else None (the household)
    weight: float       # 1, or 1/k for each sensor of a generic alert about k sensors (shared blame)
    hour: int          # local hour of the onset
    minutes: int       # how long the alert lasted when it was labelled (or since)
    label: str


def _adapt(con, config: AlertConfig, household: str, alert_class: str, sensors: list[str | None],
           feedback_id: int) -> None:
    """Recompute the adaptations of the class from its alerts' newest labels and log what
    changed: the labelled household's (per sensor for a generic class), and every other one of
    the class whose quiet patterns or duration gate lean on the labels of all homes (the fleet)."""
    zones = dict(con.execute("select household_id, timezone from raw.households").fetchall())
    labels = [_Label(h, s, 1 / len(subs), _local_hour(zones, h, at), _minutes(at, end), lab)
              for h, at, end, lab, alert_sensors in con.execute(
                  "select a.household_id, a.onset_at, a.end_at, f.label, a.sensors from ops.alerts a join "
                  "(select * from ops.alert_feedback qualify row_number() over (partition by alert_id "
                  "order by feedback_id desc) = 1) f using (alert_id) "
                  "where a.alert_class = ? and f.label <> 'unsure' order by a.alert_id", [alert_class]).fetchall()
              for subs in [subjects(alert_class, alert_sensors)] for s in subs]
    adaptations = current_adaptations(con)
    units = {(household, s) for s in sensors} | {(x.household, x.sensor) for x in labels}
    if alert_class in GENERIC:   # and the household as a whole (any sensor): low severity only
        units |= {(h, None) for h, _ in units}
    # adaptations of the class no label stands behind any more (a relabel; for a generic class,
    # household-wide ones logged before feedback was per sensor) are recomputed too, to nothing
    units |= {(h, s) for table in adaptations for (h, c, s, *_) in table if c == alert_class}
    for h, s in sorted(units, key=lambda u: (u[0], u[1] or "")):
        _adapt_household(con, config, h, s, alert_class, labels, adaptations, feedback_id)


def _fleet_hour(config: AlertConfig, labels: list[_Label], hour: int, sensor: str | None) -> tuple[bool, str]:
    """Whether the labels of all homes say that alerts of this class (and, for a generic class,
    this sensor) starting near `hour` are false alarms: false alarms near it in at least
    fleet_min_labels homes, and at most fleet_max_true_share of the labels near it true.
    (yes or no, the figures)."""
    near = [x for x in labels if x.sensor == sensor and _near(x.hour, hour, config.alerts.pattern_window_hours)]
    homes = len({x.household for x in near if x.label == "false"})
    n_true = sum(1 for x in near if x.label == "true")
    share = n_true / len(near) if near else 1.0
    ok = homes >= config.alerts.fleet_min_labels and share <= config.alerts.fleet_max_true_share
    of = "" if sensor is None else f" of {sensor}"
    return ok, (f"across all homes, false alarms{of} near {hour:02d}:00 in {homes} home(s), "
                f"{n_true} of {len(near)} true")


def _gate_limit(config: AlertConfig, longest_false: int) -> int:
    return int(max(config.alerts.pattern_shape_min_minutes, config.alerts.pattern_shape_factor * longest_false))


def _adapt_household(con, config: AlertConfig, household: str, sensor: str | None, alert_class: str,
                     labels: list[_Label], adaptations, feedback_id: int) -> None:
    strictness, patterns, gates = adaptations
    settings = config.alerts
    whole = alert_class in GENERIC and sensor is None   # a generic class's household-wide level
    # the household as a whole counts each of its alerts once (the 1/k of its k sensors add up to 1)
    own = [x for x in labels if x.household == household and (whole or x.sensor == sensor)]
    subject = f"{household} (any sensor)" if whole else household if sensor is None else f"{household} {sensor}"
    log = lambda kind, hour, old, new, why: _log(con, household, sensor, alert_class, kind, hour, old, new,  # noqa: E731
                                                 feedback_id, why)
    false = [x for x in own if x.label == "false"]
    true = [x for x in own if x.label == "true"]
    cap = (settings.max_strictness_household if whole else settings.max_strictness if alert_class in GENERIC
           else settings.max_strictness_named)
    # a label of a generic alert about k sensors counts 1/k for each of them: which one was the
    # nuisance (or the real fault) it does not say
    net = sum(x.weight for x in false) - sum(x.weight for x in true)
    level = max(0, min(cap, int(net + 1e-9)))
    old = strictness.get((household, alert_class, sensor), 0)
    if level != old:
        if all(x.weight == 1 for x in own):
            why = (f"{len(false)} false and {len(true)} true label(s) for {subject} {alert_class}: strictness "
                   f"clamp({len(false)} - {len(true)}, 0, {cap}) = {level}")
        else:
            why = (f"false labels {sum(x.weight for x in false):.2f} and true {sum(x.weight for x in true):.2f} "
                   f"for {subject} {alert_class} (an alert about k sensors counts 1/k for each): strictness "
                   f"clamp({net:.2f}, 0, {cap}) = {level}")
        log("strictness", None, old, level, why)
    width = settings.pattern_window_hours
    # a false alarm longer than pattern_max_minutes is no routine of an hour: it makes no pattern
    # (a generic class's patterns and gates are per sensor: the household-wide unit has none)
    routine = [] if whole else [x for x in false if x.minutes <= settings.pattern_max_minutes]
    for hour in range(24):
        near = [x.minutes for x in routine if _near(x.hour, hour, width)]
        started = any(x.hour == hour for x in routine)
        blocked = any(_near(x.hour, hour, width) for x in true)
        fleet_ok, fleet_why = _fleet_hour(config, labels, hour, sensor) if started and not blocked else (False, "")
        active = started and not blocked and (len(near) >= settings.pattern_labels or (near and fleet_ok))
        value = max(1, max(near)) if active else 0     # the pattern's shape: its longest false alarm, minutes
        was = patterns.get((household, alert_class, sensor, hour), 0)
        if value != was:
            if not active:
                why = f"a true alert of {subject} {alert_class} near {hour:02d}:00 (or a relabel)"
            else:
                why = (f"{len(near)} false alarm(s) of {subject} {alert_class} started near {hour:02d}:00 local time, "
                       f"the longest {value} min")
                if len(near) < settings.pattern_labels:
                    why += f"; {fleet_why} (share at most {settings.fleet_max_true_share})"
            log("quiet_pattern", hour, was, value, why)
    # the duration gate: this home's false alarms of the class (of the sensor) are all short, its
    # real ones (and nearly all real ones of the class in every home, any sensor) last longer
    gate, why = 0, f"{subject} {alert_class}: no duration gate (or a relabel)"
    if len(false) >= settings.pattern_labels and not whole:
        limit = _gate_limit(config, max(x.minutes for x in false))
        fleet_true = [x for x in labels if x.label == "true"]
        short = sum(1 for x in fleet_true if x.minutes <= limit)
        if not any(x.minutes <= limit for x in true) and len(fleet_true) >= settings.fleet_min_labels \
                and short / len(fleet_true) <= settings.fleet_max_true_share:
            gate = limit
            why = (f"{len(false)} false alarm(s) of {subject} {alert_class}, the longest "
                   f"{max(x.minutes for x in false)} min, none of its true ones that short; across all homes "
                   f"{short} of {len(fleet_true)} true alerts of the class lasted {limit} min or less: alerts up to "
                   f"{limit} min are held back until they outlast it")
        elif any(x.minutes <= limit for x in true):
            why = f"a true alert of {subject} {alert_class} lasted {limit} min or less: no duration gate"
    was = gates.get((household, alert_class, sensor), 0)
    if gate != was:
        log("duration_gate", None, was, gate, why)


def _log(con, household, sensor, alert_class, kind, hour, old, new, feedback_id, reason) -> None:
    adaptation_id = con.execute("select coalesce(max(adaptation_id), 0) + 1 from ops.alert_adaptations").fetchone()[0]
    con.execute("insert into ops.alert_adaptations (adaptation_id, household_id, alert_class, sensor, kind, "
                "hour_of_day, old_value, new_value, feedback_id, reason, created_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [adaptation_id, household, alert_class, sensor, kind, hour, old, new, feedback_id, reason, utcnow()])


def read_label_csv(path: Path) -> list[tuple[int, str, str | None, str | None]]:
    """The rows of a label CSV (header alert_id,label[,class][,note]). FeedbackError lists every
    bad line; nothing is recorded then."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise FeedbackError(f"cannot read {path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    missing = {"alert_id", "label"} - set(reader.fieldnames or [])
    if missing:
        raise FeedbackError(f"{path}: the header must name alert_id and label (missing {', '.join(sorted(missing))})")
    rows, bad = [], []
    for line, rec in enumerate(reader, start=2):
        try:
            if not (rec.get("alert_id") or "").strip().isdigit():
                raise FeedbackError(f"alert_id {rec.get('alert_id')!r} is not a number")
            label = (rec.get("label") or "").strip().lower()
            if label not in LABELS:
                raise FeedbackError(f"label {label!r} is not one of {', '.join(LABELS)}")
            rows.append((int(rec["alert_id"]), label, parse_class(rec.get("class")), rec.get("note") or None))
        except FeedbackError as exc:
            bad.append(f"line {line}: {exc}")
    if bad:
        raise FeedbackError(f"{path}: {len(bad)} bad line(s), nothing recorded: " + "; ".join(bad[:20]))
    return rows


def record_csv(con, config: AlertConfig, path: Path) -> int:
    """Every label of the CSV in one transaction (all or none). Returns the labels recorded."""
    rows = read_label_csv(path)
    with transaction(con):
        for alert_id, label, cls, note in rows:
            _record(con, config, alert_id, label, cls, note, "csv")
    return len(rows)


def explain(con, alert_id: int) -> str:
    """What the alert is, what happened to it, why it was (not) sent, and what its labels changed."""
    a = alert(con, alert_id)
    lines = [f"alert {alert_id}: {a['alert_class']} at {a['household_id']}, {a['severity']} severity, {a['status']}",
             f"  {a['onset_at']} to {a['end_at']} UTC; detectors: {', '.join(a['detectors'])}; "
             f"sensors: {', '.join(a['sensors'] or []) or '-'}",
             f"  evidence: {a['evidence']}",
             "  sent to the sinks" if a["suppressed_by"] is None else f"  held back: {a['suppressed_by']}"]
    if a["suppressed_by"] == "feedback":
        earlier = con.execute(
            "select kind, hour_of_day, new_value, reason, created_at from ops.alert_adaptations where household_id = ? "
            "and alert_class = ? and created_at <= ? and (sensor is null or list_contains(?, sensor)) "
            "order by adaptation_id", [a["household_id"], a["alert_class"], a["created_at"],
                                       list(a["sensors"] or [])]).fetchall()
        lines.append("  because of what earlier labels taught for this household and class"
                     + (" (and its sensors)" if a["alert_class"] in GENERIC else "") + ":")
        lines += [f"    {k}{'' if h is None else f' {h:02d}:00'} -> {v}: {r}" for k, h, v, r, _ in earlier]
    lines.append("history:")
    for version, change, at, detail in con.execute(
            "select version, change, changed_at, detail from ops.alert_changes where alert_id = ? "
            "order by changed_at, version", [alert_id]).fetchall():
        lines.append(f"  v{version} {change} at {at:%Y-%m-%d %H:%M:%S}" + (f": {detail}" if detail else ""))
    labels = con.execute("select feedback_id, label, corrected_class, note, source, labelled_at from ops.alert_feedback "
                         "where alert_id = ? order by feedback_id", [alert_id]).fetchall()
    for fid, label, cls, note, source, at in labels:
        lines.append(f"label #{fid} ({source}, {at:%Y-%m-%d %H:%M}): {label}" + (f", class {cls}" if cls else "")
                     + (f" - {note}" if note else ""))
        for kind, hour, sensor, old, new, reason in con.execute(
                "select kind, hour_of_day, sensor, old_value, new_value, reason from ops.alert_adaptations "
                "where feedback_id = ? order by adaptation_id", [fid]).fetchall():
            what = kind + ("" if sensor is None else f" of {sensor}") + ("" if hour is None else f" {hour:02d}:00")
            lines.append(f"  changed {what}: {old} -> {new} ({reason})")
    if not labels:
        lines.append("no label yet: `homewatch label ID true|false|unsure`")
    return "\n".join(lines)


def precision_by(con, by: str = "week"):
    """Precision from feedback: labelled alerts (newest label each, unsure left out) with their
    true and false counts, by week of onset, class and household (`by`: 'week', 'class' or
    'household'). A DataFrame; empty before any label."""
    group = {"week": "date_trunc('week', a.onset_at)::date", "class": "a.alert_class",
             "household": "a.household_id"}[by]
    return con.execute(
        f"select {group} as {by}, count(*) filter (where f.label = 'true') as n_true, "
        "count(*) filter (where f.label = 'false') as n_false, "
        "round(count(*) filter (where f.label = 'true') / count(*), 3) as precision "
        "from ops.alerts a join (select * from ops.alert_feedback qualify row_number() over "
        "(partition by alert_id order by feedback_id desc) = 1) f using (alert_id) "
        f"where f.label <> 'unsure' group by 1 order by 1").df()
