"""The validator's checks (`bot.engine.validation.validate` runs them in this order). Each finds
one kind of bad bar, records an `Issue` per row and returns the frame repaired as below; the
validator decides, by its policy, whether a finding is repaired or refused. Rows are dropped
rather than filled: inventing prices is never safe.

- non_finite: a NaN, infinite or non-numeric value, or no time -> drop the row.
- unsorted: a time earlier than the row before it -> stable sort by time.
- duplicate: a repeated time -> drop exact copies; of differing rows keep the last in the file.
- off_grid: a time off the bar grid (a partial bar such as 13:50:02 in 15m data) -> drop.
- weekend: a Saturday or Sunday (UTC) bar of an equity or index -> drop.
- non_positive: a price <= 0 (zero opens aside) or a negative volume -> drop.
- zero_open: open == 0 (old index data record only the close) -> open = previous close, high and
  low widened to include it; on the first row, drop.
- ohlc: high < max(open, close) or low > min(open, close) -> clip high and low to the body.
- split (equities whose prices are not declared adjusted): close AND open more than 40% away
  from the previous close -> when previous close / open is within 5% of a common split ratio,
  divide earlier prices by it (multiply volume); otherwise refuse, in either policy.
- gap: more missing bars than the calendar allows -> report only; refuse a gap over 30 days.
- stale_open (daily equity and index bars): in a calendar year of at least 20 bars, more than
  half open at the previous close (within a relative 1e-9) -> report only (those years' bars).

`find_gaps` lists the holes left in validated bars (for the validator's report): every gap the
gap check counts, and, for equities and indices, every hole around a bar that repair dropped,
where even one missing session counts (the gap check alone tolerates four, for holidays).

Gap rules: equities and indices miss weekends and holidays, so only more than 4 consecutive
missing business days (a whole trading week) count. FX may miss Friday 21:00 to Sunday 22:00
UTC. Crypto trades always, so every missing bar counts. A 3-for-2 split moves the price by
only 33%, below the 40% threshold that keeps genuine crash days from being "repaired"; and a
genuine overnight halving is indistinguishable from a 2-for-1 split by price alone.

Stale opens: old index files fill a missing open with the previous close, so a next-open fill
there is a fill at the signal bar's close, which flatters results. Continuous markets (crypto,
FX) and intraday bars open at the previous close as a matter of course: they are not judged.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from bot.core.bars import BAR_COLUMNS

REPORTED = "reported"
REFUSED = "refused"
DROPPED = "dropped row"
SPLIT_THRESHOLD = 0.4
SPLIT_TOLERANCE = 0.05
_BASE_RATIOS = (1.5, 2, 3, 4, 5, 7, 8, 10, 15, 20, 25, 30, 50)
SPLIT_RATIOS = tuple(sorted({*_BASE_RATIOS, *(1 / r for r in _BASE_RATIOS)}))
MAX_MISSING_SESSIONS = 4
MAX_GAP = pd.Timedelta(days=30)
STALE_OPEN_SHARE = 0.5  # a year is flagged when more of its bars open at the previous close
STALE_OPEN_MIN_BARS = 20  # a year with fewer bars (a partial year) is not judged
STALE_OPEN_RTOL = 1e-9
STALE_OPEN = "stale_open"
_SESSION_CLASSES = ("equity", "index")
ROW = "_row"  # the 0-based input row, carried through the checks


@dataclass(frozen=True)
class Issue:
    """One finding: which check, where (timestamp, 0-based row of the input), what, and what
    was done (`REPORTED` for warnings, `REFUSED` for what cannot be repaired)."""

    check: str
    ts: pd.Timestamp
    row: int
    message: str
    action: str


@dataclass(frozen=True)
class Gap:
    """A hole longer than one bar in validated bars: `start` is the last bar before it, `end`
    the first bar after it, and `missing` counts the absent bars in `unit` (sessions for
    equities and indices, whose holidays and weekends are no gap)."""

    start: pd.Timestamp
    end: pd.Timestamp
    missing: int
    unit: str


@dataclass(frozen=True)
class CheckContext:
    """What the checks know about the data: asset class, bar size and its interval, the label
    and first file line of messages, and whether prices are declared split-adjusted."""

    asset_class: str
    bar: str
    interval: pd.Timedelta
    label: str
    first_line: int | None
    adjusted: bool


def _issues(
    work: pd.DataFrame, mask: np.ndarray, check: str, action: str, message: str | Sequence[str]
) -> list[Issue]:
    flagged = work[mask]
    messages = [message] * len(flagged) if isinstance(message, str) else message
    return [
        Issue(check, ts, int(row), text, action)
        for ts, row, text in zip(flagged.index, flagged[ROW], messages, strict=True)
    ]


def _named_columns(bad: pd.DataFrame) -> list[str]:
    return [", ".join(bad.columns[row]) for row in bad.to_numpy()]


def _non_finite(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    bad = ~np.isfinite(work[list(BAR_COLUMNS)])
    mask = bad.any(axis=1).to_numpy() | work.index.isna()
    names = _named_columns(bad[mask])
    messages = [f"missing or non-numeric value in {name or 'timestamp'}" for name in names]
    return work[~mask], _issues(work, mask, "non_finite", DROPPED, messages)


def _unsorted(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    stamps = work.index.asi8
    mask = np.r_[False, stamps[1:] < stamps[:-1]]
    if not mask.any():
        return work, []
    before = work.index[np.flatnonzero(mask) - 1]
    messages = [f"earlier than the row before it ({stamp})" for stamp in before]
    issues = _issues(work, mask, "unsorted", "sorted by time", messages)
    return work.sort_index(kind="stable"), issues


def _duplicates(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    keyed = work[list(BAR_COLUMNS)].assign(ts=work.index)
    copies = keyed.duplicated(keep="first").to_numpy()
    issues = _issues(work, copies, "duplicate", DROPPED, "exact copy of an earlier row")
    work = work[~copies]
    conflicting = work.index.duplicated(keep="last")
    message = "differs from a later row with the same timestamp; the later row is kept"
    issues += _issues(work, conflicting, "duplicate", DROPPED, message)
    return work[~conflicting], issues


def _off_grid(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    mask = work.index.asi8 % ctx.interval.value != 0
    message = f"not on the {ctx.bar} bar grid (a partial or misstamped bar)"
    return work[~mask], _issues(work, mask, "off_grid", DROPPED, message)


def _weekend(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    if ctx.asset_class not in _SESSION_CLASSES:
        return work, []
    mask = work.index.dayofweek.to_numpy() >= 5
    messages = [
        f"{day} bar, but {ctx.asset_class} markets close at weekends"
        for day in work.index[mask].day_name()
    ]
    return work[~mask], _issues(work, mask, "weekend", DROPPED, messages)


def _non_positive(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    bad = pd.concat(
        [work["open"] < 0, work[["high", "low", "close"]] <= 0, work["volume"] < 0], axis=1
    )
    mask = bad.any(axis=1).to_numpy()
    messages = [
        f"non-positive price or negative volume in {name}" for name in _named_columns(bad[mask])
    ]
    return work[~mask], _issues(work, mask, "non_positive", DROPPED, messages)


def _zero_open(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    zero = (work["open"] == 0).to_numpy()
    if not zero.any():
        return work, []
    previous = work["close"].shift(1).to_numpy()
    first = zero & np.isnan(previous)
    fixed = zero & ~first
    messages = [f"open was 0; set to the previous close {value:g}" for value in previous[fixed]]
    issues = _issues(work, first, "zero_open", DROPPED, "open was 0 and no earlier close exists")
    issues += _issues(work, fixed, "zero_open", "set open to previous close", messages)
    work = work.copy()
    opens = previous[fixed]
    work.loc[fixed, "open"] = opens
    work.loc[fixed, "high"] = np.maximum(work.loc[fixed, "high"], opens)
    work.loc[fixed, "low"] = np.minimum(work.loc[fixed, "low"], opens)
    return work[~first], sorted(issues, key=lambda issue: issue.row)


def _ohlc(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    top = np.maximum(work["open"], work["close"])
    bottom = np.minimum(work["open"], work["close"])
    mask = ((work["high"] < top) | (work["low"] > bottom)).to_numpy()
    if not mask.any():
        return work, []
    rows = work[mask]
    messages = [
        f"high {h:g} / low {lo:g} outside the body open {o:g} / close {c:g}"
        for o, h, lo, c in rows[["open", "high", "low", "close"]].to_numpy()
    ]
    issues = _issues(work, mask, "ohlc", "clipped high/low to the body", messages)
    work = work.assign(high=np.maximum(work["high"], top), low=np.minimum(work["low"], bottom))
    return work, issues


def _split_jumps(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    if ctx.asset_class != "equity" or ctx.adjusted:
        return work, []
    previous = work["close"].shift(1).to_numpy()
    close_move = work["close"].to_numpy() / previous - 1
    open_move = work["open"].to_numpy() / previous - 1
    jumps = (np.abs(close_move) > SPLIT_THRESHOLD) & (np.abs(open_move) > SPLIT_THRESHOLD)
    factors, issues = np.ones(len(work)), []
    for position in np.flatnonzero(jumps):
        ratio = 1 / (open_move[position] + 1)  # previous close / open
        split = _split_ratio(ratio)
        move = (
            f"close {close_move[position]:+.0%} and open {open_move[position]:+.0%} "
            "from the previous close"
        )
        issues.append(_split_issue(work, position, ratio, split, move))
        factors[position] = split or 1.0
    return (_back_adjusted(work, factors) if issues else work), issues


def _split_issue(
    work: pd.DataFrame, position: int, ratio: float, split: float | None, move: str
) -> Issue:
    ts, row = work.index[position], int(work[ROW].iat[position])
    if split is None:
        message = (
            f"{move} (ratio {ratio:.3f}) matches no common split "
            "ratio. If it is a split, back-adjust the file; if the move is genuine, choose "
            "dates that exclude it, or declare the prices adjusted"
        )
        return Issue("split", ts, row, message, REFUSED)
    fraction = Fraction(split).limit_denominator(10)
    name = f"{fraction.numerator}-for-{fraction.denominator}"
    message = f"{move}: a {name} split; earlier prices divided by {split:g}, volume multiplied"
    return Issue("split", ts, row, message, f"back-adjusted for a {name} split")


def _split_ratio(ratio: float) -> float | None:
    nearest = min(SPLIT_RATIOS, key=lambda split: abs(np.log(ratio / split)))
    return float(nearest) if abs(ratio / nearest - 1) <= SPLIT_TOLERANCE else None


def _back_adjusted(work: pd.DataFrame, factors: np.ndarray) -> pd.DataFrame:
    # Each row is divided by the product of the split ratios of every LATER row.
    later = np.r_[np.cumprod(factors[::-1])[::-1][1:], 1.0]
    prices = ["open", "high", "low", "close"]
    return work.assign(**{c: work[c] / later for c in prices}, volume=work["volume"] * later)


def _gaps(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    missing = _MISSING[ctx.asset_class](work.index, ctx.interval) if len(work) > 1 else []
    unit = "session(s)" if ctx.asset_class in _SESSION_CLASSES else "bar(s)"
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


def _stale_opens(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    message, mask = stale_opens(work, ctx.asset_class, ctx.interval)
    return work, [] if message is None else _issues(work, mask, STALE_OPEN, REPORTED, message)


def stale_opens(
    frame: pd.DataFrame, asset_class: str, interval: pd.Timedelta
) -> tuple[str | None, np.ndarray]:
    """The stale-open warning for sorted bars `frame` (see the module docstring; None when no
    year is flagged, and always for other than daily equity or index bars) and the mask of the
    bars it counts: those opening at the previous close in the flagged years."""
    none = np.zeros(len(frame), dtype=bool)
    if asset_class not in _SESSION_CLASSES or interval < pd.Timedelta(days=1) or len(frame) < 2:
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
    unit = "session(s)" if ctx.asset_class in _SESSION_CLASSES else "bar(s)"
    counted = _MISSING[ctx.asset_class](index, ctx.interval)
    found = {int(p): (int(counted[p]), unit) for p in np.flatnonzero(counted)}
    if ctx.asset_class in _SESSION_CLASSES:
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
CHECKS = (
    _non_finite,
    _unsorted,
    _duplicates,
    _off_grid,
    _weekend,
    _non_positive,
    _zero_open,
    _ohlc,
    _split_jumps,
    _gaps,
    _stale_opens,
)
