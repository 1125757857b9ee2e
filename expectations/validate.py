"""Run suites through Great Expectations (pandas path) and turn its results into plain rows.

Only frames loaded from DuckDB with `.df()` reach GX, which has no DuckDB dialect (STACK.md).
Results are converted here rather than stored by GX: ExpectColumnQuantileValuesToBeBetween
returns a numpy bool as its success, which GX's own stores fail to serialise, so every
success is cast to a Python bool and every value made JSON-safe on the way out.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig

from expectations import config
from expectations.suites import SuiteSpec

MAX_EXAMPLES = 20  # failing rows kept in a result's details
SHOWN_EXAMPLES = 3  # failing rows named in its observed value


@dataclasses.dataclass
class Result:
    suite: str
    expectation: str
    expectation_type: str
    column: str | None
    success: bool | None  # None: not evaluated
    observed: str
    threshold: str
    severity: str
    details: dict

    @property
    def failed(self) -> bool:
        return self.success is False


class Validator:
    """One ephemeral GX context per check: no files, no progress bars, no analytics."""

    def __init__(self) -> None:
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.asset = self.context.data_sources.add_pandas("homewatch").add_dataframe_asset("frames")

    def run(self, spec: SuiteSpec) -> list[Result]:
        results = [Result(spec.name, name, "not_evaluated", None, None, reason, "", severity, {"reason": reason})
                   for name, severity, reason in spec.skipped]
        if spec.frame is None or not spec.expectations:
            return results
        batch = self.asset.add_batch_definition_whole_dataframe(spec.name).get_batch(
            batch_parameters={"dataframe": spec.frame})
        index = [c for c in spec.index_columns if c in spec.frame.columns]
        outcome = batch.validate(spec.gx_suite(), result_format={
            "result_format": "COMPLETE", "unexpected_index_column_names": index,
            "partial_unexpected_count": MAX_EXAMPLES})
        return results + [_result(spec.name, r, index) for r in outcome.results]


def _result(suite: str, r, index: list[str]) -> Result:
    cfg = r.expectation_config
    kwargs = dict(cfg.kwargs)
    observed, details = _observed(r.result or {}, kwargs, index)
    success = bool(r.success)  # numpy.bool_ from the quantile expectation: see the module docstring
    error = (r.exception_info or {}).get("exception_message") if (r.exception_info or {}).get("raised_exception") else None
    if error:
        success, observed, details = False, f"error: {error}", {**details, "error": error}
    if kwargs.get("row_condition") is not None:
        details["row_condition"] = str(kwargs["row_condition"])
    if "min_value" in kwargs or "max_value" in kwargs:  # numbers for the report's range bars
        details["bounds"] = [kwargs.get("min_value"), kwargs.get("max_value")]
    if "threshold" in kwargs:
        details["limit"] = kwargs["threshold"]
    if isinstance((r.result or {}).get("observed_value"), (int, float, np.number)):
        details["observed"] = r.result["observed_value"]
    severity = config.CRITICAL if str(getattr(cfg.severity, "value", cfg.severity)) == "critical" else config.WARN
    return Result(suite, (cfg.meta or {}).get("name", cfg.type), cfg.type, kwargs.get("column"), success,
                  observed, _threshold(kwargs), severity, _jsonable(details))


def fmt(value) -> str:
    """A number as people read it: integers whole, others to 4 significant digits."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "null"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    if isinstance(value, dt.datetime):  # days arrive from DuckDB as midnight timestamps
        text = value.isoformat(sep=" ")
        return text[:10] if text.endswith("00:00:00") else text
    return str(value)


def _observed(result: dict, kwargs: dict, index: list[str]) -> tuple[str, dict]:
    """The observed value in words, and the details worth keeping (failing rows, partitions)."""
    details: dict = {}
    if "observed_value" in result:
        value = result["observed_value"]
        if isinstance(value, dict) and "quantiles" in value:
            pairs = zip(value["quantiles"], value["values"], strict=True)
            text = ", ".join(f"q{round(q * 100):02d}={fmt(v)}" for q, v in pairs)
        else:
            text = fmt(value)
        details.update({k: v for k, v in (result.get("details") or {}).items() if k.endswith("partition")})
        return text, details
    count, total = result.get("unexpected_count"), result.get("element_count")
    if count is None:
        return "", details
    rows = result.get("partial_unexpected_index_list") or []
    details["failing_rows"] = rows[:MAX_EXAMPLES]
    if not count:
        return f"all {total} rows pass", details
    column = kwargs.get("column")
    named = ["/".join(fmt(row.get(c)) for c in index if c != column) + f" = {fmt(row.get(column))}"
             for row in rows[:SHOWN_EXAMPLES]]
    more = f" (+{count - len(named)} more)" if count > len(named) else ""
    return f"{count} of {total} rows: " + "; ".join(named) + more, details


def _threshold(kwargs: dict) -> str:
    if "quantile_ranges" in kwargs:
        q = kwargs["quantile_ranges"]
        pairs = zip(q["quantiles"], q["value_ranges"], strict=True)
        return ", ".join(f"q{round(p * 100):02d} in [{fmt(lo)}, {fmt(hi)}]" for p, (lo, hi) in pairs)
    if "threshold" in kwargs:
        return f"KL < {fmt(kwargs['threshold'])}"
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"between {fmt(low)} and {fmt(high)}"
    if low is not None:
        return f">= {fmt(low)}"
    if high is not None:
        return f"<= {fmt(high)}"
    return "not null"


def _jsonable(value):
    """Numpy numbers, timestamps and NaN made safe for json.dumps."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (dt.date, np.datetime64)) or hasattr(value, "isoformat"):
        return str(value)
    return value
