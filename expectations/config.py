"""Every threshold the quality and drift checks use, in one place, with what it means.

docs/quality.md explains each check; the drift figures were calibrated on simulated data
(30 homes x 180 days, seed 42, each day against the 28 before it), see "Calibration" there.
Nothing here imports Great Expectations: the scoring gate reads this module too.
"""
from __future__ import annotations

import csv
import dataclasses
import functools

from warehouse.connection import REPO_ROOT
from warehouse.project_vars import dbt_var
from warehouse.ingest.model import ingest_future_hours
from warehouse.taxonomy import CLASS_IDS, PROBABILITY_COLUMNS  # noqa: F401 - the taxonomy, read here

CRITICAL = "critical"  # a failure blocks scoring of the batch (expectations.gate) unless forced
WARN = "warn"  # a failure is reported (CLI, dq.validation_results, report) but blocks nothing

# --- raw readings -----------------------------------------------------------------------------
SENSOR_TYPES_SEED = REPO_ROOT / "dbt_project" / "seeds" / "sensor_types.csv"  # physical ranges live here
# A reading may be stamped this far after it was landed: the tolerance file ingest applies (24 h
# unless $HOMEWATCH_INGEST_FUTURE_HOURS says otherwise), so a reading ingest accepted never stops
# the batch; ingest quarantines the ones beyond it.
FUTURE_TOLERANCE_MINUTES = round(ingest_future_hours() * 60)
STUCK_MAX_MINUTES = dbt_var("stuck_minutes")  # a continuous sensor repeating one value longer than this is stuck
STUCK_MAX_GAP_MINUTES = 60  # readings further apart break a run: a silent sensor is not a stuck one
HOUSEHOLD_DAY_COMPLETENESS_MIN = 0.5  # warn: a household delivered under half its expected readings that day
BATCH_COMPLETENESS_MIN = 0.8  # critical: the batch as a whole holds under 80% of its expected readings
MAX_DUPLICATE_SHARE = 0.5  # critical: more than half the batch repeats readings already landed (a re-delivery)
FRESHNESS_MAX_LAG_HOURS = 48.0  # warn: the batch's newest reading is older than this at the batch's clock
DEFAULT_CADENCE_SECONDS = 300  # expected reading interval when a batch is too sparse to measure one

# --- dbt features and flags ---------------------------------------------------------------------
WARMUP_HOURS = dbt_var("context_hours")  # a household's first hours may hold nulls (the longest window)


@dataclasses.dataclass(frozen=True)
class ModelCheck:
    """What the features suite promises about one dbt model, per household (and sensor) and step."""

    table: str
    keys: tuple[str, ...]  # one row per these
    not_null: tuple[str, ...] | None  # columns never null after warm-up; None: every column
    scores: tuple[str, ...] | str  # columns in [0, 1]; a str is a suffix: every column ending with it
    gapless: bool  # the grid has every step between a household's first and last (household grain only)


MODEL_CHECKS: tuple[ModelCheck, ...] = (
    # the generic flags the classifier reads (int_sensor_steps_flagged, every sensor's, is a view)
    ModelCheck("intermediate.int_household_steps_pivoted", ("household_id", "step_at"),
               tuple(f"{s}_{c}" for s in ("temperature", "humidity", "fridge_power")
                     for c in ("anomaly_score", "health_score")), "_score", gapless=True),
    ModelCheck("intermediate.int_sensor_scores", ("household_id", "sensor", "step_at"),
               ("anomaly_score", "health_score"), ("anomaly_score", "health_score", "anomaly_p", "health_p"),
               gapless=False),
    ModelCheck("intermediate.int_household_rules_flagged", ("household_id", "step_at"),
               ("rule_class", "rule_severity"), "_severity", gapless=True),
    ModelCheck("marts.fct_ml_features", ("household_id", "step_at"),
               None, ("generic_anomaly_score", "generic_health_score", "temperature_health", "humidity_health",
                      "fridge_power_health"), gapless=True),
)
STAGED_READINGS = "staging.stg_raw__readings"  # de-duplicated by dbt: its keys must be unique

# --- predictions (ml.predictions, written by the scorer) ----------------------------------------
PREDICTIONS_TABLE = "ml.predictions"
PROBABILITY_SUM_TOLERANCE = 1e-3  # the class probabilities of a step sum to 1 within this

# --- drift: each batch's newest day against the same hours of the days before ----------------------
DRIFT_WINDOW_HOURS = 24  # the current window: the batch's newest 24 h (all of a shorter batch)
REFERENCE_DAYS = 28  # reference windows: the same hours on each of this many previous days
REFERENCE_MIN_WINDOWS = 5  # fewer reference days with data: drift is not evaluated (recorded as such)
DRIFT_EXCLUDED_SENSORS = ("fire_alarm",)  # an alarm is an event, not a distribution: rules watch it
DRIFT_MAX_VALUES = 500_000  # the current window is sampled down to this many readings (bounded memory)
DRIFT_MIN_VALUES = 50  # a sensor with fewer current readings than this is not drift-checked
HOUSEHOLD_MIN_VALUES = 12  # ... nor a household's sensor with fewer than this (an hour at 5 minutes)
# Pooled over households, a statistic of the current window must lie within
# center +- max(K * its standard deviation across reference days, FLOOR * the pooled reference std).
# Calibration: the largest |z| of a normal simulated day was 6.3 (fridge spread), so 8 never fires on it.
DRIFT_K = 8.0
DRIFT_FLOOR_STDS = 0.1  # bounds are never narrower than this share of the pooled std (few, flat days)
GROSS_SHIFT_STDS = 3.0  # critical: the pooled mean moved this many pooled stds (a unit or calibration change)
HISTOGRAM_BINS = 20  # equal-width bins between the reference's 0.1% and 99.9% quantiles (+ two tails)
HISTOGRAM_TAIL_QUANTILE = 0.001
HISTOGRAM_SMOOTHING = 0.5  # pseudo-count per bin, so an empty reference bin does not make KL infinite
KL_FACTOR = 3.0  # KL(current || reference) may be this many times the worst reference day's ...
KL_MIN = 0.05  # ... but never below this
# Per household (continuous sensors): the current mean may move this many reference bands (the
# mean daily 5%-95% range, ~3 degC for temperature). Normal simulated days exceeded 4 bands in 0.1%
# of household-sensor-days (week-long heating failures, leaks) and 5 once in 13,680: a one-day
# shift smaller than that cannot be told from the anomalies the rules are there to find.
HOUSEHOLD_MEAN_SHIFT_BANDS = 5.0
HOUSEHOLD_SPREAD_RATIO_MAX = 15.0  # current std / reference median daily std; normal max 12 (a fire)
BAND_FLOOR_FRACTION = 0.02  # a band is at least this share of the sensor's typical level (seed)

# --- running ------------------------------------------------------------------------------------
MEMORY_ENV, DEFAULT_MEMORY = "HOMEWATCH_DUCKDB_MEMORY", "3.5GB"  # DuckDB's limit for the check's queries, as for dbt

# --- the report -------------------------------------------------------------------------------
REPORT_RECENT_BATCHES = 20  # the trend covers this many recent checked batches


@dataclasses.dataclass(frozen=True)
class SensorType:
    sensor: str
    kind: str  # 'continuous' or 'binary'
    physical_min: float
    physical_max: float
    typical_level: float


@functools.cache
def sensor_types() -> dict[str, SensorType]:
    """Known sensors from the dbt seed, the one documented list of physical ranges."""
    with open(SENSOR_TYPES_SEED, newline="") as f:
        return {
            row["sensor"]: SensorType(row["sensor"], row["kind"], float(row["physical_min"]),
                                      float(row["physical_max"]), float(row["typical_level"]))
            for row in csv.DictReader(f)
        }
