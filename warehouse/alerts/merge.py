"""From the anomaly marts to incidents: one candidate per detector row, merged into clusters.

Three detectors feed the alerts, each through its mart (docs/dbt.md):

- ``rules``: ``marts.fct_anomaly_events`` rows of ``event_kind = 'anomaly'`` (a domain rule, class 1-5);
  its generic rows are per sensor, and ``marts.fct_incidents`` already merges them per household;
- ``classifier``: ``marts.fct_classified_anomalies`` (the production model, class 1-5);
- ``generic``: ``marts.fct_incidents`` (the calibrated score; class ``sensor_anomaly`` or
  ``sensor_health``).

Candidates of one household merge into one cluster when their spans overlap or lie less than
``merge_gap_minutes`` apart and their classes are compatible: the same class, or a generic
``sensor_anomaly`` next to a named class (the named class wins: the classifier or a rule says
what the departure is). ``sensor_health`` (a sensor fault) merges only with itself.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from warehouse.dbhelpers import has_table
from warehouse.taxonomy import ANOMALY_CLASSES, CLASS_OF

GENERIC_CLASSES = {"anomaly": "sensor_anomaly", "health": "sensor_health"}
SEVERITIES = ("low", "medium", "high")
HIGH_CLASSES = ("fire",)            # always high severity, never suppressed
DETECTOR_ORDER = ("rules", "generic", "classifier")   # whose evidence (observed vs expected) is shown first


@dataclasses.dataclass
class Candidate:
    household_id: str
    alert_class: str
    start_at: dt.datetime
    end_at: dt.datetime
    severity: str
    detector: str
    source_id: str
    sensors: list[str]
    observed_value: float | None
    expected_value: float | None
    what: str          # the rule, channel or model version, for the evidence line


@dataclasses.dataclass
class Cluster:
    household_id: str
    alert_class: str
    onset_at: dt.datetime
    end_at: dt.datetime
    members: list[Candidate]

    @property
    def anomaly_class(self) -> int:
        return CLASS_OF.get(self.alert_class, 0)

    @property
    def detectors(self) -> list[str]:
        return sorted({m.detector for m in self.members})

    @property
    def sources(self) -> list[str]:
        return sorted({f"{m.detector}:{m.source_id}" for m in self.members})

    @property
    def sensors(self) -> list[str]:
        return sorted({s for m in self.members for s in (m.sensors or [])})

    @property
    def severity(self) -> str:
        if self.alert_class in HIGH_CLASSES:
            return "high"
        return max((m.severity for m in self.members), key=SEVERITIES.index)

    def evidence(self) -> tuple[float | None, float | None, str]:
        """(observed, expected, one line) from the detector whose evidence reads best."""
        ranked = sorted(self.members, key=lambda m: (m.observed_value is None, DETECTOR_ORDER.index(m.detector)))
        best = ranked[0]
        seen = ", ".join(f"{m.detector} ({m.what})" for m in sorted(
            {(m.detector, m.what): m for m in self.members}.values(), key=lambda m: m.detector))
        line = f"{self.alert_class} seen by {seen}"
        if best.observed_value is not None and best.expected_value is not None:
            line += f"; observed {best.observed_value:.4g} vs expected {best.expected_value:.4g} ({best.what})"
        return best.observed_value, best.expected_value, line


def compatible(a: str, b: str) -> bool:
    """Whether two classes can describe one incident (see the module doc)."""
    if a == b:
        return True
    return "sensor_anomaly" in (a, b) and "sensor_health" not in (a, b)


def merged_class(a: str, b: str) -> str:
    return b if a == "sensor_anomaly" else a


def _nan(value):
    return None if value is None or value != value else float(value)


def load_candidates(con, as_of: dt.datetime | None = None) -> list[Candidate]:
    """Every detector row of the marts; with `as_of`, only what had started by then, ended no
    later than it (a replay of the batches up to that time: the bench, tests)."""
    rows: list[Candidate] = []
    clip = (lambda end: min(end, as_of)) if as_of is not None else (lambda end: end)
    keep = "" if as_of is None else " where start_at < ?"
    params = [] if as_of is None else [as_of]
    if has_table(con, "marts", "fct_anomaly_events"):
        for r in con.execute(
                "select event_id, household_id, anomaly_class, rule_name, start_at, end_at, sensors, observed_value, "
                f"expected_value from (select * from marts.fct_anomaly_events where event_kind = 'anomaly'){keep}",
                params).fetchall():
            name = ANOMALY_CLASSES.get(r[2], r[3])
            rows.append(Candidate(r[1], name, r[4], clip(r[5]), "high" if name in HIGH_CLASSES else "medium",
                                  "rules", r[0], list(r[6] or []), _nan(r[7]), _nan(r[8]), r[3]))
    if has_table(con, "marts", "fct_classified_anomalies"):
        for r in con.execute(
                "select anomaly_id, household_id, class_name, start_at, end_at, model_version, rule_observed_value, "
                f"rule_expected_value, peak_confidence from marts.fct_classified_anomalies{keep}", params).fetchall():
            severity = "high" if r[2] in HIGH_CLASSES else ("medium" if r[8] >= 0.9 else "low")
            rows.append(Candidate(r[1], r[2], r[3], clip(r[4]), severity, "classifier", r[0], [],
                                  _nan(r[6]), _nan(r[7]), r[5]))
    if has_table(con, "marts", "fct_incidents"):
        where = "" if as_of is None else " where onset_at < ?"
        for r in con.execute(
                "select incident_id, household_id, kind, onset_at, end_at, severity, sensors, observed_value, "
                f"expected_value, channel from marts.fct_incidents{where}", params).fetchall():
            rows.append(Candidate(r[1], GENERIC_CLASSES[r[2]], r[3], clip(r[4]), r[5], "generic", r[0],
                                  list(r[6] or []), _nan(r[7]), _nan(r[8]), r[9]))
    return rows


def cluster(candidates: list[Candidate], gap: dt.timedelta) -> list[Cluster]:
    """Merge candidates of one household and compatible class whose spans overlap or lie less
    than `gap` apart; clusters in onset order. Deterministic: the input order does not matter."""
    ordered = sorted(candidates, key=lambda c: (c.household_id, c.start_at, c.end_at, c.detector, c.source_id))
    clusters: list[Cluster] = []
    open_by_household: dict[str, list[Cluster]] = {}
    for cand in ordered:
        live = [c for c in open_by_household.get(cand.household_id, []) if c.end_at + gap >= cand.start_at]
        open_by_household[cand.household_id] = live
        fits = [c for c in live if compatible(c.alert_class, cand.alert_class)]
        # the same class first, then the one that started first
        fits.sort(key=lambda c: (c.alert_class != cand.alert_class, c.onset_at))
        if fits:
            target = fits[0]
            target.members.append(cand)
            target.alert_class = merged_class(target.alert_class, cand.alert_class)
            target.end_at = max(target.end_at, cand.end_at)
        else:
            target = Cluster(cand.household_id, cand.alert_class, cand.start_at, cand.end_at, [cand])
            clusters.append(target)
            live.append(target)
    return sorted(clusters, key=lambda c: (c.onset_at, c.household_id, c.alert_class))
