"""The validator's checks (`bot.engine.validation.validate` runs `CHECKS` in this order). Each
finds one kind of bad bar, records an `Issue` (`bot.engine.bar_issues`) per row and returns the
frame repaired as below; the validator decides, by its policy, whether a finding is repaired or
refused. Rows are dropped rather than filled: inventing prices is never safe.

- non_finite: a NaN, infinite or non-numeric value, or no time -> drop the row.
- out_of_range: a price or volume beyond what nautilus can hold (`LIMITS`, e.g. a corrupt 1e300)
  -> refuse, in either policy.
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
- gap (`bot.engine.bar_gaps`): more missing bars than the calendar allows -> report only;
  refuse a gap over 30 days.
- stale_open (`bot.engine.stale_opens`, daily equity and index bars): in a calendar year of at
  least 20 bars, more than half open at the previous close -> report only (those years' bars).

A 3-for-2 split moves the price by only 33%, below the 40% threshold that keeps genuine crash
days from being "repaired"; and a genuine overnight halving is indistinguishable from a 2-for-1
split by price alone.
"""

from fractions import Fraction

import numpy as np
import pandas as pd
from nautilus_trader.model.objects import PRICE_MAX, QUANTITY_MAX

from bot.core.bars import BAR_COLUMNS
from bot.engine.bar_gaps import check_gaps
from bot.engine.bar_issues import (
    DROPPED,
    REFUSED,
    ROW,
    SESSION_CLASSES,
    CheckContext,
    Issue,
    issues_at,
)
from bot.engine.stale_opens import check_stale_opens

SPLIT_THRESHOLD = 0.4
SPLIT_TOLERANCE = 0.05
_BASE_RATIOS = (1.5, 2, 3, 4, 5, 7, 8, 10, 15, 20, 25, 30, 50)
SPLIT_RATIOS = tuple(sorted({*_BASE_RATIOS, *(1 / r for r in _BASE_RATIOS)}))
# The largest magnitude of each column that nautilus, and so the catalog, can hold.
LIMITS = {"open": PRICE_MAX, "high": PRICE_MAX, "low": PRICE_MAX, "close": PRICE_MAX} | {
    "volume": QUANTITY_MAX
}


def _named_columns(bad: pd.DataFrame) -> list[str]:
    return [", ".join(bad.columns[row]) for row in bad.to_numpy()]


def _non_finite(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    bad = ~np.isfinite(work[list(BAR_COLUMNS)])
    mask = bad.any(axis=1).to_numpy() | work.index.isna()
    names = _named_columns(bad[mask])
    messages = [f"missing or non-numeric value in {name or 'timestamp'}" for name in names]
    return work[~mask], issues_at(work, mask, "non_finite", DROPPED, messages)


def _out_of_range(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    # Refused and taken out here: left in, such a value turns later checks' messages to noise
    # (a split "move" of a 300-digit percentage).
    columns = list(LIMITS)
    values = work[columns].to_numpy()
    bad = np.abs(values) > np.array(list(LIMITS.values()))
    mask = bad.any(axis=1)
    if not mask.any():
        return work, []
    first = bad[mask].argmax(axis=1)  # the first offending column of each flagged row
    messages = [
        f"{columns[i]} {row[i]:g} is outside the range the engine can hold "
        f"(±{LIMITS[columns[i]]:g}), most likely a corrupt value"
        for row, i in zip(values[mask], first, strict=True)
    ]
    return work[~mask], issues_at(work, mask, "out_of_range", REFUSED, messages)


def _unsorted(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    stamps = work.index.asi8
    mask = np.r_[False, stamps[1:] < stamps[:-1]]
    if not mask.any():
        return work, []
    before = work.index[np.flatnonzero(mask) - 1]
    messages = [f"earlier than the row before it ({stamp})" for stamp in before]
    issues = issues_at(work, mask, "unsorted", "sorted by time", messages)
    return work.sort_index(kind="stable"), issues


def _duplicates(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    keyed = work[list(BAR_COLUMNS)].assign(ts=work.index)
    copies = keyed.duplicated(keep="first").to_numpy()
    issues = issues_at(work, copies, "duplicate", DROPPED, "exact copy of an earlier row")
    work = work[~copies]
    conflicting = work.index.duplicated(keep="last")
    message = "differs from a later row with the same timestamp; the later row is kept"
    issues += issues_at(work, conflicting, "duplicate", DROPPED, message)
    return work[~conflicting], issues


def _off_grid(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    mask = work.index.asi8 % ctx.interval.value != 0
    message = f"not on the {ctx.bar} bar grid (a partial or misstamped bar)"
    return work[~mask], issues_at(work, mask, "off_grid", DROPPED, message)


def _weekend(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    if ctx.asset_class not in SESSION_CLASSES:
        return work, []
    mask = work.index.dayofweek.to_numpy() >= 5
    messages = [
        f"{day} bar, but {ctx.asset_class} markets close at weekends"
        for day in work.index[mask].day_name()
    ]
    return work[~mask], issues_at(work, mask, "weekend", DROPPED, messages)


def _non_positive(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    bad = pd.concat(
        [work["open"] < 0, work[["high", "low", "close"]] <= 0, work["volume"] < 0], axis=1
    )
    mask = bad.any(axis=1).to_numpy()
    messages = [
        f"non-positive price or negative volume in {name}" for name in _named_columns(bad[mask])
    ]
    return work[~mask], issues_at(work, mask, "non_positive", DROPPED, messages)


def _zero_open(work: pd.DataFrame, ctx: CheckContext) -> tuple[pd.DataFrame, list[Issue]]:
    zero = (work["open"] == 0).to_numpy()
    if not zero.any():
        return work, []
    previous = work["close"].shift(1).to_numpy()
    first = zero & np.isnan(previous)
    fixed = zero & ~first
    messages = [f"open was 0; set to the previous close {value:g}" for value in previous[fixed]]
    issues = issues_at(work, first, "zero_open", DROPPED, "open was 0 and no earlier close exists")
    issues += issues_at(work, fixed, "zero_open", "set open to previous close", messages)
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
    issues = issues_at(work, mask, "ohlc", "clipped high/low to the body", messages)
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


CHECKS = (
    _non_finite,
    _out_of_range,
    _unsorted,
    _duplicates,
    _off_grid,
    _weekend,
    _non_positive,
    _zero_open,
    _ohlc,
    _split_jumps,
    check_gaps,
    check_stale_opens,
)
