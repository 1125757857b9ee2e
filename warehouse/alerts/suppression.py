"""Whether a new alert is sent, and if not, why: the reasons are checked in this order.

1. a fire is always sent: nothing below applies to it.
2. ``stale``: it ended more than ``max_age_hours`` before the newest data (a first run over
   months of history stores them all and sends none of the old ones).
3. ``snooze``: a snooze of its household (or of one of its sensors) covers its onset.
4. ``feedback``: what labels taught for its household and class (feedback.py; for a generic
   class, for each of its sensors: it is held back only if every sensor's labels hold it back): strictness 1
   holds back low severity, 2 also alerts only one detector saw, 3 all of them; a quiet
   pattern holds back alerts starting within ``pattern_window_hours`` of the local hour of
   recurring false alarms and no longer than ``pattern_shape_factor`` times the longest of them
   (or ``pattern_shape_min_minutes``, if that is longer); a duration gate holds back alerts of
   the household and class no longer than the gate (its false alarms were short, its real
   ones long), until they outlast it.
5. high severity is sent from here on: quiet hours and the cooldown are for routine alerts.
6. ``quiet_hours``: low severity starting in the household's quiet hours (local time).
7. ``cooldown``: the last alert sent for this household and class ended less than
   ``cooldown_minutes`` before this one's onset.

A held-back alert is stored all the same (``suppressed_by`` says why) and listed by
``homewatch alerts``. Each later batch that changes it (it goes on, another detector sees it,
it escalates) asks again, and it is sent ('opened') once no reason holds any more.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from warehouse.alerts.config import AlertConfig
from warehouse.alerts.feedback import subjects
from warehouse.alerts.merge import HIGH_CLASSES, Cluster


@dataclasses.dataclass
class Context:
    config: AlertConfig
    data_now: dt.datetime                              # the newest data the alerts come from
    timezones: dict[str, str]                          # household -> IANA zone
    snoozes: list[tuple]                               # (household, sensor|None, from_at|None, until_at)
    # what labels taught (feedback.current_adaptations); sensor None = the household as a whole
    strictness: dict[tuple[str, str, str | None], int]       # (household, class, sensor) -> 0..3
    patterns: dict[tuple[str, str, str | None, int], int]    # (..., sensor, local hour) -> shape, minutes
    last_sent_end: dict[tuple[str, str], dt.datetime]        # (household, class) -> end of the last alert sent
    gates: dict[tuple[str, str, str | None], int] = dataclasses.field(default_factory=dict)  # -> minutes


def local_hour(ctx: Context, household: str, at: dt.datetime) -> int:
    zone = ZoneInfo(ctx.timezones.get(household) or "UTC")
    return at.replace(tzinfo=dt.timezone.utc).astimezone(zone).hour


def _in_window(t: dt.time, start: dt.time, end: dt.time) -> bool:
    return start <= t < end if start <= end else (t >= start or t < end)


def _taught(c: Cluster, ctx: Context, sensor: str | None) -> bool:
    """Whether the labels of this household and class (about `sensor`, None = the whole
    household) hold the alert back: its strictness, a quiet pattern near its onset hour that it
    does not outlast, or its duration gate."""
    key = (c.household_id, c.alert_class, sensor)
    level = ctx.strictness.get(key, 0)
    if (level >= 1 and c.severity == "low") or (level >= 2 and len(c.detectors) < 2) or level >= 3:
        return True
    hour = local_hour(ctx, c.household_id, c.onset_at)
    width = ctx.config.alerts.pattern_window_hours
    minutes = (c.end_at - c.onset_at).total_seconds() / 60
    shapes = [ctx.patterns.get((*key, (hour + d) % 24), 0) for d in range(-width, width + 1)]
    limit = lambda shape: max(ctx.config.alerts.pattern_shape_min_minutes,  # noqa: E731
                              ctx.config.alerts.pattern_shape_factor * shape)
    return any(shape and minutes <= limit(shape) for shape in shapes) or minutes <= ctx.gates.get(key, 0)


def reason(c: Cluster, ctx: Context) -> str | None:
    """Why this alert is not sent (one of the reasons above), or None: it is sent."""
    if c.alert_class in HIGH_CLASSES:
        return None
    if c.end_at < ctx.data_now - dt.timedelta(hours=ctx.config.alerts.max_age_hours):
        return "stale"
    for household, sensor, from_at, until_at in ctx.snoozes:
        if household == c.household_id and (sensor is None or sensor in c.sensors) \
                and c.onset_at < until_at and (from_at is None or c.onset_at >= from_at):
            return "snooze"
    if all(_taught(c, ctx, s) or (s is not None and _taught(c, ctx, None))
           for s in subjects(c.alert_class, c.sensors)):
        return "feedback"
    key = (c.household_id, c.alert_class)
    if c.severity == "high":
        return None
    window = ctx.config.quiet_window()
    if window and c.severity == "low":
        zone = ZoneInfo(ctx.timezones.get(c.household_id) or "UTC")
        local = c.onset_at.replace(tzinfo=dt.timezone.utc).astimezone(zone).time()
        if _in_window(local, *window):
            return "quiet_hours"
    last = ctx.last_sent_end.get(key)
    if last is not None and c.onset_at < last + dt.timedelta(minutes=ctx.config.alerts.cooldown_minutes):
        return "cooldown"
    return None
