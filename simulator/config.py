"""Simulation parameters and the sensor list, in one place (the taxonomy: warehouse/taxonomy.py)."""
from __future__ import annotations

import dataclasses
import datetime as dt

# The taxonomy (class numbers, names; the higher class wins where anomalies overlap) has one
# source, warehouse/taxonomy.py; ANOMALY_CLASSES stays importable from here.
from warehouse.taxonomy import ANOMALY_CLASSES, CLASS_OF  # noqa: F401 - re-exported

# Bump when a change alters the generated data for the same parameters: append
# refuses to continue a warehouse simulated by another generator version.
GENERATOR_VERSION = "3"  # 2: varied homes (issue 16: showers, heating seasons, quantised, sensor kits); 3: heating back on below a comfort floor

# The sensors a fully equipped home has (faults and dropouts pick among these, in this order)...
CORE_SENSORS: tuple[str, ...] = ("temperature", "humidity", "fridge_power", "motion", "door", "fire_alarm")
# ...and the context sensors some homes also have (the domain rules read them; profiles.py shares).
CONTEXT_SENSORS: tuple[str, ...] = ("outdoor_temperature", "bathroom_temperature")
SENSORS: tuple[str, ...] = CORE_SENSORS + CONTEXT_SENSORS
CONTINUOUS_SENSORS: tuple[str, ...] = ("temperature", "humidity", "fridge_power")
SENSOR_UNITS = {
    "temperature": "degC",
    "humidity": "%RH",
    "fridge_power": "W",
    "motion": "0/1",
    "door": "0/1 open",
    "fire_alarm": "0/1",
    "outdoor_temperature": "degC",
    "bathroom_temperature": "degC",
}
# The sensor whose readings show each anomaly: a home without it gets no such anomaly.
EVIDENCE_SENSOR = {"heating_failure": "temperature", "humidity_leak": "humidity", "humidity_steam": "humidity",
                   "fridge_failure": "fridge_power", "door_at_night": "door", "fire": "fire_alarm"}

@dataclasses.dataclass(frozen=True)
class EventSpec:
    """How often an injected event happens and how long it lasts."""

    kind: str  # 'anomaly' or 'fault'
    anomaly_class: int
    per_week: float  # mean count per household-week (Poisson)
    min_minutes: float
    max_minutes: float
    log_duration: bool = True  # durations spread log-uniformly (many short, few long)


# Rates are per household-week. They are far above real-world rates on purpose:
# the classifier needs examples of every class, and the demo should show them.
EVENT_SPECS: dict[str, EventSpec] = {
    "heating_failure": EventSpec("anomaly", CLASS_OF["temperature_failure"], 0.35, 120, 7 * 24 * 60),
    "humidity_leak": EventSpec("anomaly", CLASS_OF["humidity_anomaly"], 0.20, 120, 48 * 60),
    "humidity_steam": EventSpec("anomaly", CLASS_OF["humidity_anomaly"], 0.20, 45, 120, log_duration=False),
    "fridge_failure": EventSpec("anomaly", CLASS_OF["fridge_failure"], 0.25, 120, 72 * 60),
    "door_at_night": EventSpec("anomaly", CLASS_OF["door_at_night"], 0.40, 5, 15, log_duration=False),
    "fire": EventSpec("anomaly", CLASS_OF["fire"], 0.08, 15, 120, log_duration=False),
    "stuck": EventSpec("fault", 0, 0.15, 120, 48 * 60),
    "spike": EventSpec("fault", 0, 0.30, 0, 0, log_duration=False),  # one step
    "noise_burst": EventSpec("fault", 0, 0.15, 60, 6 * 60, log_duration=False),
    "dropout": EventSpec("fault", 0, 0.20, 30, 24 * 60),
    "drift": EventSpec("fault", 0, 0.08, 2 * 24 * 60, 10 * 24 * 60, log_duration=False),
}

ANOMALY_TYPES = tuple(k for k, s in EVENT_SPECS.items() if s.kind == "anomaly")
FAULT_TYPES = tuple(k for k, s in EVENT_SPECS.items() if s.kind == "fault")
# Normal events a naive rule would flag; recorded as ground truth with anomaly_class 0.
NORMAL_TYPES = ("shower", "late_shower", "cooking", "airing", "defrost", "late_return")

BLOCK_DAYS = 7  # injected events are drawn per calendar block, so a prefix never changes


class ConfigError(ValueError):
    """A simulation parameter is out of range."""


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """What to simulate. Same values -> identical data, and a longer run extends a shorter one."""

    households: int = 100
    days: int = 180
    start: dt.date = dt.date(2025, 1, 1)
    step_minutes: int = 5
    seed: int = 42

    def __post_init__(self) -> None:
        if self.households < 1:
            raise ConfigError(f"households must be at least 1, got {self.households}")
        if self.days < 1:
            raise ConfigError(f"days must be at least 1, got {self.days}")
        if self.step_minutes < 1 or 1440 % self.step_minutes:
            raise ConfigError(
                f"step_minutes must divide a day (1, 2, 5, 10, 15, 30, 60...), got {self.step_minutes}"
            )

    @property
    def step_seconds(self) -> int:
        return self.step_minutes * 60

    @property
    def steps_per_day(self) -> int:
        return 1440 // self.step_minutes

    @property
    def n_steps(self) -> int:
        return self.days * self.steps_per_day

    @property
    def start_datetime(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time())

    def household_id(self, index: int) -> str:
        return f"H{index + 1:04d}"
