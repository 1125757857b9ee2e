"""The anomaly taxonomy: class numbers, names, the domain rule that flags each, and what it means.

The one source. Python reads it from here; dbt reads the seed dbt_project/seeds/anomaly_classes.csv,
which is written from this module (`python -m warehouse.taxonomy`) and checked against it by
tests/test_code_health.py. Where anomalies overlap on a step, the higher class number wins
(priority 5 > 4 > 3 > 2 > 1): the SQL labeller and the rules take the max.

A leaf module: it imports nothing from the project, so the simulator, the warehouse, the
classifier and the quality checks can all read it without a cycle.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import NamedTuple


class AnomalyClass(NamedTuple):
    anomaly_class: int
    class_name: str
    rule_name: str      # the dbt domain rule that flags it ('' for normal)
    description: str


TAXONOMY: tuple[AnomalyClass, ...] = (
    AnomalyClass(0, "normal", "", "no anomaly"),
    AnomalyClass(1, "temperature_failure", "heating_failure",
                 "heating failure: indoor temperature sustained below the household baseline"),
    AnomalyClass(2, "humidity_anomaly", "humidity_anomaly", "bathroom humidity high outside the household shower pattern"),
    AnomalyClass(3, "fridge_failure", "fridge_failure", "fridge power near zero beyond a normal defrost"),
    AnomalyClass(4, "door_at_night", "door_at_night", "front door opened in the household sleep hours"),
    AnomalyClass(5, "fire", "fire", "fire alarm on (with heat and humidity)"),
)

NORMAL = 0
ANOMALY_CLASSES: dict[int, str] = {c.anomaly_class: c.class_name for c in TAXONOMY}  # 0 normal ... 5 fire
CLASS_IDS: tuple[int, ...] = tuple(ANOMALY_CLASSES)                                   # 0 ... 5
ANOMALY_CLASS_IDS: tuple[int, ...] = tuple(c for c in CLASS_IDS if c != NORMAL)       # 1 ... 5
N_CLASSES = len(CLASS_IDS)
CLASS_OF: dict[str, int] = {c.class_name: c.anomaly_class for c in TAXONOMY}           # name -> number
RULE_NAMES: dict[int, str] = {c.anomaly_class: c.rule_name for c in TAXONOMY if c.rule_name}
# ml.predictions and stg_ml__predictions: one probability column per class, in class order
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"p_{name}" for name in ANOMALY_CLASSES.values())

# The sensors the classifier knows (dbt var known_sensors: one group of feature columns each).
KNOWN_SENSORS: tuple[str, ...] = ("temperature", "humidity", "fridge_power", "motion", "door", "fire_alarm")
# The evidence a class needs: any one of these groups, each group's sensors all present in the
# home. A class whose evidence the home lacks is never predicted there (models_ml/gating.py):
# no fridge failure without a fridge meter, no door at night without a door contact. Fire needs
# the fire alarm: heat with humidity alone is what a hot shower or cooking makes every day in a
# real home (the simulator's fires always sound the alarm, so it cannot teach the difference).
# The door-at-night rule learns the sleep hours from motion, but the classifier also knows the
# hour, so the door alone suffices. Groups are alternatives: a class could accept several.
EVIDENCE_SENSORS: dict[int, tuple[tuple[str, ...], ...]] = {
    1: (("temperature",),),
    2: (("humidity",),),
    3: (("fridge_power",),),
    4: (("door",),),
    5: (("fire_alarm",),),
}


def class_has_evidence(anomaly_class: int, present: set[str] | frozenset[str]) -> bool:
    """Whether a home with these sensors can show this class (normal always can)."""
    groups = EVIDENCE_SENSORS.get(anomaly_class)
    return groups is None or any(all(s in present for s in group) for group in groups)


SEED_PATH = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "anomaly_classes.csv"


def seed_csv() -> str:
    """The text of the dbt seed anomaly_classes.csv, as this module defines it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AnomalyClass._fields)
    writer.writerows(TAXONOMY)
    return out.getvalue()


if __name__ == "__main__":   # rewrite the seed after a change here
    SEED_PATH.write_text(seed_csv())
    print(f"wrote {SEED_PATH}")
