"""The validator every bar passes through before it reaches the engine (the bar frame contract
is `bot.core.bars`).

`validate` runs the checks of `bot.engine.bar_checks` in order (that module lists them with
their repairs). Under `policy="strict"` any finding except a report-only one (a gap, stale
opens) raises a `DataError` naming the first bad row. Under `policy="repair"` each finding is
repaired, logged (one structlog warning per check; stale opens only in the report, as a load
spans years a run may not trade) and recorded as an `Issue`; the repaired frame passes strict
validation. What cannot be repaired safely (a price or volume beyond what the engine can hold,
a price jump that matches no split ratio, a gap over 30 days) is refused in either policy. The
result also lists the gaps left in the clean frame (`bar_gaps.find_gaps`), and `format_report`
names every row repair dropped or changed and every gap.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import structlog

from bot.core.bars import ASSET_CLASSES, BAR_COLUMNS, BarFrame, bar_interval
from bot.core.errors import ConfigError, DataError
from bot.engine.bar_checks import CHECKS
from bot.engine.bar_gaps import Gap, find_gaps
from bot.engine.bar_issues import DROPPED, REFUSED, REPORTED, ROW, CheckContext, Issue
from bot.engine.stale_opens import STALE_OPEN

log = structlog.get_logger(__name__)

POLICIES = ("strict", "repair")
MAX_LISTED = 10  # rows and gaps a report names; it counts the rest


@dataclass(frozen=True)
class ValidationResult:
    """The clean frame, every issue found on the way and the gaps left in the frame."""

    frame: BarFrame
    issues: list[Issue]
    gaps: list[Gap] = field(default_factory=list)

    @property
    def changed(self) -> list[Issue]:
        """The issues whose rows repair dropped or changed (neither reported nor refused)."""
        return [issue for issue in self.issues if issue.action not in (REPORTED, REFUSED)]


def validate(
    frame: pd.DataFrame,
    *,
    asset_class: str,
    bar: str,
    policy: Literal["strict", "repair"],
    label: str = "bars",
    first_line: int | None = None,
    adjusted: bool = False,
) -> ValidationResult:
    """Check `frame` against the bar contract and return the clean frame.

    `label` names the data in messages (e.g. "SPX 1d"). `first_line` is the file line of row 0
    (2 for a CSV with a header line), so that messages point at lines instead of rows.
    `adjusted=True` declares prices split-adjusted: the split check is skipped, because a big
    jump in adjusted prices is a genuine move.
    """
    if asset_class not in ASSET_CLASSES:
        raise ConfigError(f"Unknown asset class {asset_class!r}: use one of {ASSET_CLASSES}.")
    if policy not in POLICIES:
        raise ConfigError(f"Unknown data policy {policy!r}: use 'strict' or 'repair'.")
    ctx = CheckContext(asset_class, bar, bar_interval(bar), label, first_line, adjusted)
    work = _normalised(frame, label)
    issues: list[Issue] = []
    for check in CHECKS:
        work, found = check(work, ctx)
        issues.extend(found)
    _raise_blocking(issues, ctx, policy)
    if work.empty:
        raise DataError(f"{label}: no valid bars are left after validation; check the file.")
    _log(issues, ctx)
    dropped = [issue.ts for issue in issues if issue.action == DROPPED]
    gaps = find_gaps(work.index, ctx, dropped)
    return ValidationResult(frame=work.drop(columns=ROW), issues=issues, gaps=gaps)


def format_report(result: ValidationResult, *, limit: int = MAX_LISTED) -> str:
    """A short human-readable summary of a validation: the span, one line per check, then the
    rows repair dropped or changed and the gaps left (`limit` of each, and a count of the rest),
    with the advice to use the strict policy when there are any."""
    frame = result.frame
    lines = [f"{len(frame)} bars from {frame.index[0]} to {frame.index[-1]}."]
    if not result.issues and not result.gaps:
        return lines[0] + " No issues found."
    for check, items in _by_check(result.issues).items():
        first = items[0]
        actions = ", ".join(sorted({item.action for item in items}))
        lines.append(
            f"  {check}: {len(items)} row(s), {actions}; first at row {first.row} "
            f"({first.ts}): {first.message}"
        )
    details = repair_details(result, limit=limit)
    return "\n".join([*lines, details] if details else lines)


def repair_details(result: ValidationResult, *, limit: int = MAX_LISTED) -> str:
    """What repair changed and the gaps left, `limit` of each with a count of the rest, and the
    advice to use the strict policy; empty when nothing was changed and no gap is left."""
    changed = sorted(result.changed, key=lambda issue: issue.row)  # file order
    gaps, index = result.gaps, result.frame.index
    if not changed and not gaps:
        return ""
    daily = bool((index == index.normalize()).all())
    lines = []
    if changed:
        lines.append(f"Rows dropped or changed ({len(changed)}):")
        lines += [
            f"  {_stamp(issue.ts, daily)} {issue.check}: {issue.action} ({issue.message})"
            for issue in changed[:limit]
        ]
        lines += _rest(len(changed), limit)
    if gaps:
        lines.append(f"Gaps longer than one bar ({len(gaps)}; no bars are invented to fill them):")
        lines += [
            f"  {_stamp(gap.start, daily)} -> {_stamp(gap.end, daily)}: "
            f"{gap.missing} {gap.unit} missing"
            for gap in gaps[:limit]
        ]
        lines += _rest(len(gaps), limit)
    if changed:
        advice = (
            "Use --policy strict (policy='strict') to refuse bars that need repair instead of "
            "changing them, then fix the file at its source."
        )
    else:
        advice = (
            "Fill them at the source or choose dates around them (--policy strict refuses bars "
            "that need repair, and reports gaps the same way)."
        )
    lines.append(f"Check these before trading on the bars. {advice}")
    return "\n".join(lines)


def _stamp(ts: pd.Timestamp, daily: bool) -> str:
    # Dates alone when every bar is at midnight (daily bars), else minutes too.
    if pd.isna(ts):
        return "(no time)"
    return f"{ts:%Y-%m-%d}" if daily and ts == ts.normalize() else f"{ts:%Y-%m-%d %H:%M}"


def _rest(count: int, limit: int) -> list[str]:
    return [f"  ... and {count - limit} more"] if count > limit else []


def _normalised(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame) or not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(f"{label}: expected a DataFrame indexed by timestamps (a DatetimeIndex).")
    missing = [column for column in BAR_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(
            f"{label}: missing column(s) {', '.join(missing)} (found {list(frame.columns)}); "
            f"bars need {', '.join(BAR_COLUMNS)}."
        )
    if frame.index.tz is None:
        raise DataError(
            f"{label}: timestamps carry no timezone, so their instant is unknown; "
            "localise them (e.g. to UTC) before validating."
        )
    work = frame[list(BAR_COLUMNS)].apply(pd.to_numeric, errors="coerce").astype("float64")
    work.index = frame.index.tz_convert("UTC").rename("ts")
    work[ROW] = np.arange(len(work))
    return work


def _raise_blocking(issues: list[Issue], ctx: CheckContext, policy: str) -> None:
    refused = [issue for issue in issues if issue.action == REFUSED]
    blocking = [issue for issue in issues if issue.action != REPORTED]
    if policy == "repair":
        blocking = refused
    if not blocking:
        return
    first = min(blocking, key=lambda issue: issue.row)
    more = f" ({len(blocking) - 1} more issue(s) found)" if len(blocking) > 1 else ""
    if refused:
        advice = (
            f"The {refused[0].check} at {_where(refused[0], ctx)} cannot be repaired safely; "
            "fix the file or choose other dates."
        )
    else:
        advice = (
            "Rerun with --policy repair (policy='repair') to fix what is safe, with every "
            "change logged, or fix the file."
        )
    raise DataError(
        f"{ctx.label}: bad bars ({first.check}) at {_where(first, ctx)}, {first.ts}: "
        f"{first.message}{more}. {advice}"
    )


def _where(issue: Issue, ctx: CheckContext) -> str:
    return f"row {issue.row}" if ctx.first_line is None else f"line {ctx.first_line + issue.row}"


def _by_check(issues: list[Issue]) -> dict[str, list[Issue]]:
    grouped: dict[str, list[Issue]] = {}
    for issue in issues:
        grouped.setdefault(issue.check, []).append(issue)
    return grouped


def _log(issues: list[Issue], ctx: CheckContext) -> None:
    for check, items in _by_check(issues).items():
        if check == STALE_OPEN:
            # A load validates the symbol's whole history, of which a run may trade none of the
            # stale years: a backtest flags those it trades, `bot data check` lists them all.
            continue
        first = items[0]
        log.warning(
            "bar validation",
            data=ctx.label,
            check=check,
            count=len(items),
            action=", ".join(sorted({item.action for item in items})),
            first_row=first.row,
            first_ts=str(first.ts),
            example=first.message,
        )
