"""Whether a load succeeded, and if not, a message that says why and what would fix it.

A load fails when it found no usable reading, or quarantined more than Limits.max_quarantined
of what it read (problems / (problems + good readings)). The message names the most common
reason and, for timestamps that did not parse, the --timestamp-format that fits them.
"""
from __future__ import annotations

from warehouse.ingest.model import Limits, _Plan
from warehouse.ingest.sql import EPOCH_RANGES, NUMBER_PATTERN, _lit, _text

# Formats tried on timestamps that did not parse, in order; the first that fits a sample wins.
DAY_FIRST = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S",
             "%d.%m.%Y", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y", "%d/%m/%y %H:%M", "%d.%m.%y %H:%M")
MONTH_FIRST = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p",
               "%m/%d/%y %H:%M", "%m-%d-%Y %H:%M")
OTHER = ("%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y.%m.%d %H:%M", "%Y%m%d %H:%M", "%Y%m%d%H%M%S", "%Y%m%d")
SAMPLE = 500  # timestamps sampled to guess a format


def _failure(con, plan: _Plan, ts: str, readings: int, problems: int, limits: Limits) -> str | None:
    """Why the load must fail, or None; call after _quarantine (it reads raw.quarantine)."""
    share = problems / (problems + readings) if problems + readings else 1.0
    if readings and share <= limits.max_quarantined:
        return None
    what = "rows" if plan.layout == "long" else "rows and cells"
    if not readings:
        head = f"no usable reading: all {problems:,} {what} were quarantined"
    else:
        head = (f"{share:.0%} of what it holds was quarantined ({problems:,} {what}, against {readings:,} good "
                f"readings), more than the {limits.max_quarantined:.0%} a load may quarantine")
    top = con.execute(
        r"""select regexp_replace(reason, '''[^'']*''', '''...''', 'g') as kind, count(*), arg_min(reason, line_number),
                   min(line_number)
            from raw.quarantine where batch_id = ? group by kind order by 2 desc, 4 limit 1""",
        [plan.batch_id]).fetchone()
    if top is None:
        return f"{plan.given}: no usable reading was found in it; nothing from this file was loaded"
    kind, count, example, line = top
    where = "line" if plan.fmt == "csv" else "row"
    parts = [f"{plan.given}: {head}. Most common reason ({count:,}): {example} ({where} {line})."]
    hint = _hint(con, plan, ts, kind, limits)
    if hint:
        parts.append(hint)
    parts.append(f"Nothing from this file was loaded and it is not recorded as ingested; its quarantined rows stay "
                 f"in raw.quarantine: select line_number, reason, raw_record from raw.quarantine "
                 f"where batch_id = '{plan.batch_id}' order by line_number")
    return " ".join(parts)


def _hint(con, plan: _Plan, ts: str, kind: str, limits: Limits) -> str | None:
    """The option that would fix the most common problem, when one can be named."""
    if kind.startswith("timestamp") and "is not a date/time" in kind:
        return _format_hint(con, plan, ts)
    if "before the earliest accepted time" in kind:
        return (f"If those times are real, accept them with an earlier limit, e.g. --earliest "
                f"{limits.earliest.year - 10}-01-01.")
    if "after the ingest time" in kind:
        return "If those times are real, accept them with --future-tolerance-hours; check the file's time zone too."
    return None


def _format_hint(con, plan: _Plan, ts: str) -> str:
    """The --timestamp-format that parses a sample of the timestamps that did not parse."""
    text = _text(plan, plan.ts)
    sample = (f"(select x from (select {text} as x from hw_stage where {ts} is null and trim({text}) <> '') "
              f"using sample reservoir({SAMPLE} rows) repeatable (7))")
    formats = DAY_FIRST + MONTH_FIRST + OTHER
    checks = ", ".join(f"count(try_strptime(x, {_lit(f)})) = count(*)" for f in formats)
    epochs = ", ".join(f"count(*) filter (where try_cast(x as double) between {lo} and {hi}) * 2 > count(*)"
                       for lo, hi in EPOCH_RANGES.values())
    row = con.execute(f"select count(*), count(*) filter (where regexp_full_match(x, {_lit(NUMBER_PATTERN)})), "
                      f"{epochs}, {checks} from {sample}").fetchone()
    n, numeric, (is_s, is_ms), fits = row[0], row[1], row[2:4], row[4:]
    generic = ("Give the format with --timestamp-format (strptime codes, e.g. '%d/%m/%Y %H:%M'), "
               "or epoch_s / epoch_ms for numbers of seconds / milliseconds since 1970 (UTC).")
    if not n:
        return generic
    if numeric == n:
        unit = "epoch_s" if is_s else "epoch_ms" if is_ms else None
        if unit:
            return (f"The timestamps are numbers, like {'seconds' if is_s else 'milliseconds'} since 1970: "
                    f"add --timestamp-format {unit}.")
        return ("The timestamps are numbers: if they count seconds or milliseconds since 1970 (UTC), add "
                "--timestamp-format epoch_s or epoch_ms.")
    fitting = [f for f, fit in zip(formats, fits) if fit]
    day = next((f for f in fitting if f in DAY_FIRST), None)
    month = next((f for f in fitting if f in MONTH_FIRST), None)
    if day and month:
        return (f"The timestamps fit both a day-first and a month-first date; if the day comes first add "
                f"--timestamp-format '{day}', if the month does add --timestamp-format '{month}'.")
    if day:
        return f"The timestamps look day-first: add --timestamp-format '{day}'."
    if fitting:
        return f"The timestamps fit --timestamp-format '{fitting[0]}': add it."
    return generic
