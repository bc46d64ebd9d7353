"""The validator every bar passes through before it reaches the engine (the bar frame contract
is `bot.core.bars`).

`validate` runs the checks of `bot.engine.bar_checks` in order (that module lists them with
their repairs). Under `policy="strict"` any finding except a gap raises a `DataError` naming the
first bad row. Under `policy="repair"` each finding is repaired, logged (one structlog warning
per check) and recorded as an `Issue`; the repaired frame passes strict validation. What cannot
be repaired safely (a price jump that matches no split ratio, a gap over 30 days) is refused in
either policy.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import structlog

from bot.core.bars import ASSET_CLASSES, BAR_COLUMNS, BarFrame, bar_interval
from bot.core.errors import ConfigError, DataError
from bot.engine.bar_checks import CHECKS, REFUSED, REPORTED, ROW, CheckContext, Issue

log = structlog.get_logger(__name__)

POLICIES = ("strict", "repair")


@dataclass(frozen=True)
class ValidationResult:
    """The clean frame and every issue found on the way."""

    frame: BarFrame
    issues: list[Issue]


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
    return ValidationResult(frame=work.drop(columns=ROW), issues=issues)


def format_report(result: ValidationResult) -> str:
    """A short human-readable summary of a validation: the span, then one line per check."""
    frame = result.frame
    lines = [f"{len(frame)} bars from {frame.index[0]} to {frame.index[-1]}."]
    if not result.issues:
        return lines[0] + " No issues found."
    for check, items in _by_check(result.issues).items():
        first = items[0]
        actions = ", ".join(sorted({item.action for item in items}))
        lines.append(
            f"  {check}: {len(items)} row(s), {actions}; first at row {first.row} "
            f"({first.ts}): {first.message}"
        )
    return "\n".join(lines)


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
