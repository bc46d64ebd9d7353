"""Stale opens: old index files fill a missing open with the previous close, so a next-open
fill there is a fill at the signal bar's close, which flatters results. Continuous markets
(crypto, FX) and intraday bars open at the previous close as a matter of course: they are not
judged.

Daily equity and index bars are: in a calendar year of at least 20 bars, more than half open at
the previous close (within a relative 1e-9) flags the year. The validator's stale-open check
reports those years' bars (report only); a backtest warns when it trades them.
"""

import numpy as np
import pandas as pd

from bot.engine.bar_issues import REPORTED, SESSION_CLASSES, CheckContext, Issue, issues_at

STALE_OPEN_SHARE = 0.5  # a year is flagged when more of its bars open at the previous close
STALE_OPEN_MIN_BARS = 20  # a year with fewer bars (a partial year) is not judged
STALE_OPEN_RTOL = 1e-9
STALE_OPEN = "stale_open"


def check_stale_opens(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    """The stale-open check: `work` unchanged, and an issue at each bar `stale_opens` counts."""
    message, mask = stale_opens(work, ctx.asset_class, ctx.interval)
    return work, [] if message is None else issues_at(work, mask, STALE_OPEN, REPORTED, message)


def stale_opens(
    frame: pd.DataFrame, asset_class: str, interval: pd.Timedelta
) -> tuple[str | None, np.ndarray]:
    """The stale-open warning for sorted bars `frame` (see the module docstring; None when no
    year is flagged, and always for other than daily equity or index bars) and the mask of the
    bars it counts: those opening at the previous close in the flagged years."""
    none = np.zeros(len(frame), dtype=bool)
    if asset_class not in SESSION_CLASSES or interval < pd.Timedelta(days=1) or len(frame) < 2:
        return None, none
    previous = frame["close"].shift(1).to_numpy()
    stale = np.abs(frame["open"].to_numpy() - previous) <= STALE_OPEN_RTOL * np.abs(previous)
    years = frame.index.year.to_numpy()
    offset = years[1:] - years[0]  # the first bar has no previous close to compare
    totals, hits = np.bincount(offset), np.bincount(offset, weights=stale[1:].astype(float))
    flagged = (totals >= STALE_OPEN_MIN_BARS) & (hits > STALE_OPEN_SHARE * totals)
    if not flagged.any():
        return None, none
    share = hits[flagged].sum() / totals[flagged].sum()
    stale_years = np.flatnonzero(flagged) + years[0]
    message = _stale_message(stale_years, share, last_year=int(years.max()))
    return message, stale & np.isin(years, stale_years)


def _stale_message(years: np.ndarray, share: float, last_year: int) -> str:
    clean = int(years[-1]) + 1
    advice = (
        f"prefer data from {clean} on, or use --start {clean}-01-01"
        if clean <= last_year
        else "no later year is clean: prefer a source that records the opens"
    )
    return (
        f"open equals the previous close on {share:.0%} of bars in {_year_span(years)} (over "
        f"{STALE_OPEN_SHARE:.0%} in every year named): next-open fills on these bars are in "
        f"effect fills at the signal bar's close, so results over that span are flattered; {advice}"
    )


def _year_span(years: np.ndarray) -> str:
    # 1984, 1985, 1986, 1989 -> "1984-1986, 1989"
    runs = np.split(years, np.flatnonzero(np.diff(years) > 1) + 1)
    return ", ".join(f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
