"""The expectation suites, written as code: the single source of truth for what is checked.

Each builder takes the bounded frame of one suite (expectations.profiles, .model_frames,
.reference) and returns a Great Expectations suite. Every expectation carries a stable
HomeWatch name in meta["name"] (what dq.validation_results and the scoring gate report) and a
severity: critical failures block scoring, warnings are reported. Importing this module
imports Great Expectations (about 4.5 s): only the check command does.
"""
from __future__ import annotations

import dataclasses

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.row_conditions import Column

from expectations import config
from expectations.reference import Reference, SensorReference

_SEVERITY = {config.CRITICAL: FailureSeverity.CRITICAL, config.WARN: FailureSeverity.WARNING}


@dataclasses.dataclass
class SuiteSpec:
    """A suite with the frame it validates; `skipped` lists (expectation, reason) not evaluated."""

    name: str
    frame: pd.DataFrame | None
    index_columns: list[str]  # identify a failing row in the results (household, sensor, day)
    expectations: list = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # (name, severity, reason)

    def expect(self, cls, name: str, severity: str, **kwargs) -> None:
        self.expectations.append(cls(meta={"name": name}, severity=_SEVERITY[severity], **kwargs))

    def at_most(self, column: str, limit: float, name: str, severity: str, **kwargs) -> None:
        self.expect(gxe.ExpectColumnValuesToBeBetween, name, severity, column=column, max_value=limit, **kwargs)

    def at_least(self, column: str, limit: float, name: str, severity: str, **kwargs) -> None:
        self.expect(gxe.ExpectColumnValuesToBeBetween, name, severity, column=column, min_value=limit, **kwargs)

    def skip(self, name: str, severity: str, reason: str) -> None:
        self.skipped.append((name, severity, reason))

    def gx_suite(self) -> gx.ExpectationSuite:
        suite = gx.ExpectationSuite(name=self.name)
        for expectation in self.expectations:
            suite.add_expectation(expectation)
        return suite


# --- raw readings -----------------------------------------------------------------------------


def raw_readings(profile: pd.DataFrame) -> SuiteSpec:
    """Per household, sensor and day: keys present, physical ranges, binary values, no future, not stuck."""
    spec = SuiteSpec("raw_readings", profile, ["household_id", "sensor", "day"])
    for column in ("household_id", "sensor"):
        spec.expect(gxe.ExpectColumnValuesToNotBeNull, f"key_present:{column}", config.CRITICAL, column=column)
    spec.expect(gxe.ExpectColumnValuesToNotBeNull, "timestamp_present", config.CRITICAL, column="day")
    for t in config.sensor_types().values():
        where = Column("sensor") == t.sensor
        spec.at_least("min_value", t.physical_min, f"within_physical_range:{t.sensor}", config.CRITICAL, row_condition=where)
        spec.at_most("max_value", t.physical_max, f"within_physical_range:{t.sensor}", config.CRITICAL, row_condition=where)
    spec.at_most("n_not_binary", 0, "binary_values_0_or_1", config.CRITICAL, row_condition=Column("kind") == "binary")
    spec.at_most("n_future", 0, "not_from_future", config.CRITICAL)
    spec.at_most("longest_run_minutes", config.STUCK_MAX_MINUTES, "not_stuck", config.WARN,
                 row_condition=Column("kind") == "continuous")
    return spec


def raw_completeness(days: pd.DataFrame) -> SuiteSpec:
    """Per household and day: enough of the readings its sensors' cadence promises."""
    spec = SuiteSpec("raw_completeness", days, ["household_id", "day"])
    spec.at_least("completeness", config.HOUSEHOLD_DAY_COMPLETENESS_MIN, "household_day_complete", config.WARN)
    return spec


def raw_batch(summary: pd.DataFrame) -> SuiteSpec:
    """The batch as a whole: not empty, complete, new (not a re-delivery), fresh."""
    spec = SuiteSpec("raw_batch", summary, ["batch_id"])
    spec.at_least("n_readings", 1, "batch_not_empty", config.CRITICAL)
    spec.at_least("completeness", config.BATCH_COMPLETENESS_MIN, "batch_complete", config.CRITICAL)
    spec.at_most("duplicate_share", config.MAX_DUPLICATE_SHARE, "batch_is_new", config.CRITICAL)
    spec.at_most("n_conflicting", 0, "no_conflicting_redelivery", config.WARN)
    spec.at_most("n_conflicting_in_file", 0, "no_conflicting_duplicates", config.WARN)
    spec.at_most("lag_hours", config.FRESHNESS_MAX_LAG_HOURS, "batch_fresh", config.WARN)
    return spec


# --- dbt features and flags -------------------------------------------------------------------


def features_flags(frame: pd.DataFrame | None) -> SuiteSpec:
    """Per household and day of the batch's steps: one row per step, no gaps, no nulls, scores in [0, 1]."""
    spec = SuiteSpec("features_flags", frame, ["household_id", "day"])
    if frame is None:
        spec.skip("features_built", config.WARN, "dbt has not built this batch yet: run `homewatch build`, then check again")
        return spec
    spec.at_most("staged__duplicates", 0, "staged_readings_unique", config.CRITICAL)
    for check in config.MODEL_CHECKS:
        name = check.table.split(".")[1]
        if f"{name}__rows" not in frame:
            spec.skip(f"rows_present:{name}", config.CRITICAL, f"{check.table} does not exist")
            continue
        spec.expect(gxe.ExpectColumnValuesToNotBeNull, f"rows_present:{name}", config.CRITICAL, column=f"{name}__rows")
        spec.at_most(f"{name}__duplicates", 0, f"one_row_per_step:{name}", config.CRITICAL)
        if check.gapless:
            spec.at_most(f"{name}__missing_steps", 0, f"no_missing_steps:{name}", config.CRITICAL)
        spec.at_most(f"{name}__rows_with_nulls", 0, f"no_nulls_after_warmup:{name}", config.CRITICAL)
        spec.at_least(f"{name}__min_score", 0, f"scores_in_0_1:{name}", config.CRITICAL)
        spec.at_most(f"{name}__max_score", 1, f"scores_in_0_1:{name}", config.CRITICAL)
    return spec


# --- predictions ------------------------------------------------------------------------------


def predictions(frame: pd.DataFrame | None) -> SuiteSpec:
    """Per household, day and model version: probabilities valid and summing to 1, known classes, no duplicates."""
    spec = SuiteSpec("predictions", frame, ["household_id", "day", "model_version"])
    if frame is None:
        spec.skip("predictions_present", config.WARN, f"{config.PREDICTIONS_TABLE} holds no predictions for this batch yet")
        return spec
    spec.at_most("n_duplicates", 0, "one_prediction_per_step", config.CRITICAL)
    spec.at_most("n_rows_with_nulls", 0, "no_nulls", config.CRITICAL)
    spec.at_least("min_probability", 0, "probabilities_in_0_1", config.CRITICAL)
    spec.at_most("max_probability", 1, "probabilities_in_0_1", config.CRITICAL)
    spec.at_most("max_sum_error", config.PROBABILITY_SUM_TOLERANCE, "probabilities_sum_to_1", config.CRITICAL)
    spec.at_least("min_class", min(config.CLASS_IDS), "class_in_taxonomy", config.CRITICAL)
    spec.at_most("max_class", max(config.CLASS_IDS), "class_in_taxonomy", config.CRITICAL)
    return spec


# --- drift ------------------------------------------------------------------------------------


def _half_width(ref: SensorReference, stat: str) -> float:
    """How far a statistic may move: DRIFT_K window-to-window deviations, never under a floor."""
    _, spread, _ = ref.stats[stat]
    return max(config.DRIFT_K * spread, config.DRIFT_FLOOR_STDS * ref.stats["std"][2], 1e-9)


def _bounds(ref: SensorReference, stat: str) -> tuple[float, float]:
    """center +- half width; a location statistic is also kept inside the sensor's physical range."""
    center = ref.stats[stat][0]
    low, high = center - _half_width(ref, stat), center + _half_width(ref, stat)
    if stat == "std":
        return max(low, 0.0), high
    known = config.sensor_types().get(ref.sensor)
    return (max(low, known.physical_min), min(high, known.physical_max)) if known else (low, high)


def _sensor_drift(spec: SuiteSpec, ref: SensorReference) -> None:
    s, where = ref.sensor, Column("sensor") == ref.sensor
    low, high = _bounds(ref, "mean")
    spec.expect(gxe.ExpectColumnMeanToBeBetween, f"mean_within_reference:{s}", config.WARN,
                column="value", row_condition=where, min_value=low, max_value=high)
    mean, std = ref.stats["mean"][2], ref.stats["std"][2]
    gross = max(config.GROSS_SHIFT_STDS * std, 1e-9)
    spec.expect(gxe.ExpectColumnMeanToBeBetween, f"no_gross_shift:{s}", config.CRITICAL,
                column="value", row_condition=where, min_value=mean - gross, max_value=mean + gross)
    low, high = _bounds(ref, "std")
    spec.expect(gxe.ExpectColumnStdevToBeBetween, f"spread_within_reference:{s}", config.WARN,
                column="value", row_condition=where, min_value=low, max_value=high)
    if ref.kind == "continuous":
        quantiles = {"quantiles": [0.05, 0.5, 0.95], "value_ranges": [list(_bounds(ref, q)) for q in ("q05", "q50", "q95")]}
        spec.expect(gxe.ExpectColumnQuantileValuesToBeBetween, f"quantiles_within_reference:{s}", config.WARN,
                    column="value", row_condition=where, quantile_ranges=quantiles)
    spec.expect(gxe.ExpectColumnKLDivergenceToBeLessThan, f"distribution_close_to_reference:{s}", config.WARN,
                column="value", row_condition=where, partition_object=ref.histogram,
                threshold=max(config.KL_MIN, config.KL_FACTOR * ref.kl_reference_max))


def drift_sensors(values: pd.DataFrame | None, reference: Reference | None, reason: str = "") -> SuiteSpec:
    """Per sensor, all households pooled: mean, spread, quantiles and histogram against the reference."""
    spec = SuiteSpec("drift_sensors", values, ["household_id", "sensor"])
    if reference is None or values is None:
        spec.skip("drift_reference", config.WARN, reason or "no reference period")
        return spec
    counts = values.sensor.value_counts()
    for sensor in sorted(set(counts.index) | set(reference.sensors)):
        ref = reference.sensors.get(sensor)
        if ref is None or ref.n_windows < config.REFERENCE_MIN_WINDOWS:
            have = 0 if ref is None else ref.n_windows
            spec.skip(f"drift_reference:{sensor}", config.WARN, f"{have} reference days with data, "
                      f"{config.REFERENCE_MIN_WINDOWS} needed (reference {reference.reference_id})")
        elif counts.get(sensor, 0) < config.DRIFT_MIN_VALUES:
            spec.skip(f"drift_reference:{sensor}", config.WARN,
                      f"{counts.get(sensor, 0)} current readings, {config.DRIFT_MIN_VALUES} needed")
        else:
            _sensor_drift(spec, ref)
    return spec


def drift_households(frame: pd.DataFrame | None, reference: Reference | None, reason: str = "") -> SuiteSpec:
    """Per household and continuous sensor: the mean's shift (in reference bands) and the spread ratio."""
    spec = SuiteSpec("drift_households", frame, ["household_id", "sensor"])
    if reference is None or frame is None or not len(frame):
        spec.skip("household_drift_reference", config.WARN, reason or "no household has a reference period")
        return spec
    limit = config.HOUSEHOLD_MEAN_SHIFT_BANDS
    spec.expect(gxe.ExpectColumnValuesToBeBetween, "household_mean_within_reference", config.WARN,
                column="mean_shift_bands", min_value=-limit, max_value=limit)
    spec.at_most("spread_ratio", config.HOUSEHOLD_SPREAD_RATIO_MAX, "household_spread_within_reference", config.WARN)
    return spec
