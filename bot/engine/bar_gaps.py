"""Gaps in bars: the validator's gap check and `find_gaps`, both counting missing bars by the
calendar of the asset class.

The gap check reports more missing bars than the calendar allows and refuses a gap over 30
days. Equities and indices miss weekends and holidays, so only more than 4 consecutive missing
business days (a whole trading week) count. FX may miss Friday 21:00 to Sunday 22:00 UTC.
Crypto trades always, so every missing bar counts.

`find_gaps` lists the holes left in validated bars (for the validator's report): every gap the
gap check counts, and, for equities and indices, every hole around a bar that repair dropped,
where even one missing session counts (the gap check alone tolerates four, for holidays).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.engine.bar_issues import REFUSED, REPORTED, ROW, SESSION_CLASSES, CheckContext, Issue

MAX_MISSING_SESSIONS = 4
MAX_GAP = pd.Timedelta(days=30)


@dataclass(frozen=True)
class Gap:
    """A hole longer than one bar in validated bars: `start` is the last bar before it, `end`
    the first bar after it, and `missing` counts the absent bars in `unit` (sessions for
    equities and indices, whose holidays and weekends are no gap)."""

    start: pd.Timestamp
    end: pd.Timestamp
    missing: int
    unit: str


def check_gaps(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    """The gap check: `work` unchanged, and an issue at the first bar after each gap."""
    missing = _MISSING[ctx.asset_class](work.index, ctx.interval) if len(work) > 1 else []
    unit = "session(s)" if ctx.asset_class in SESSION_CLASSES else "bar(s)"
    issues = []
    for position in np.flatnonzero(missing):
        before, ts = work.index[position - 1], work.index[position]
        message = f"{missing[position]} {unit} missing since the previous bar at {before}"
        action = REPORTED
        if ts - before > MAX_GAP:
            message += f"; gaps over {MAX_GAP.days} days are refused: choose dates around it"
            action = REFUSED
        issues.append(Issue("gap", ts, int(work[ROW].iat[position]), message, action))
    return work, issues


def _missing_sessions(index: pd.DatetimeIndex, interval: pd.Timedelta) -> np.ndarray:
    missing = _skipped_sessions(index)
    return np.where(missing > MAX_MISSING_SESSIONS, missing, 0)


def _skipped_sessions(index: pd.DatetimeIndex) -> np.ndarray:
    # Business days strictly between each bar's date and the previous bar's date.
    days = index.tz_localize(None).to_numpy().astype("datetime64[D]")
    return np.maximum(np.r_[0, np.busday_count(days[:-1], days[1:]) - 1], 0)


def find_gaps(
    index: pd.DatetimeIndex, ctx: CheckContext, dropped: Sequence[pd.Timestamp] = ()
) -> list[Gap]:
    """The holes longer than one bar in the validated, sorted `index`: each gap the gap check
    counts by the calendar of `ctx.asset_class` and, for equities and indices, each hole around
    a timestamp of `dropped` (the bars repair dropped), however short."""
    if len(index) < 2:
        return []
    unit = "session(s)" if ctx.asset_class in SESSION_CLASSES else "bar(s)"
    counted = _MISSING[ctx.asset_class](index, ctx.interval)
    found = {int(p): (int(counted[p]), unit) for p in np.flatnonzero(counted)}
    if ctx.asset_class in SESSION_CLASSES:
        sessions = _skipped_sessions(index)
        for position, bars in _holes(index, ctx, dropped).items():
            # Intraday, a hole inside one session skips no session: count the dropped bars.
            missing = (int(sessions[position]), unit) if sessions[position] else (bars, "bar(s)")
            found.setdefault(position, missing)
    return [Gap(index[p - 1], index[p], *found[p]) for p in sorted(found)]


def _holes(
    index: pd.DatetimeIndex, ctx: CheckContext, dropped: Sequence[pd.Timestamp]
) -> dict[int, int]:
    # position p of `index` -> how many dropped bars lay between index[p - 1] and index[p];
    # dropped stamps that leave no hole (off the grid, weekends, duplicates) are ignored.
    stamps = pd.DatetimeIndex([ts for ts in dropped if not pd.isna(ts)], tz="UTC")
    keep = (stamps.asi8 % ctx.interval.value == 0) & (stamps.dayofweek < 5) & ~stamps.isin(index)
    positions = index.searchsorted(stamps[keep])
    inside = positions[(positions > 0) & (positions < len(index))]
    return {int(p): int(n) for p, n in zip(*np.unique(inside, return_counts=True), strict=True)}


def _missing_bars(index: pd.DatetimeIndex, interval: pd.Timedelta) -> np.ndarray:
    return np.r_[0, np.diff(index.asi8) // interval.value - 1]


def _missing_fx_bars(index: pd.DatetimeIndex, interval: pd.Timedelta) -> np.ndarray:
    missing = _missing_bars(index, interval)
    for position in np.flatnonzero(missing):
        slots = pd.date_range(
            index[position - 1] + interval, index[position] - interval, freq=interval
        )
        missing[position] = int((~_fx_closed(slots)).sum())
    return missing


def _fx_closed(stamps: pd.DatetimeIndex) -> np.ndarray:
    # FX closes Friday 17:00 New York and reopens Sunday 17:00: 21:00/22:00 UTC with DST.
    day, hour = stamps.dayofweek.to_numpy(), stamps.hour.to_numpy()
    return ((day == 4) & (hour >= 21)) | (day == 5) | ((day == 6) & (hour < 22))


_MISSING: dict[str, Callable[[pd.DatetimeIndex, pd.Timedelta], np.ndarray]] = {
    "equity": _missing_sessions,
    "index": _missing_sessions,
    "crypto": _missing_bars,
    "perpetual": _missing_bars,
    "fx": _missing_fx_bars,
}
