"""The validator's stale-open report: daily equity and index years where most bars open at the
previous close (old index files fill a missing open so), which a next-open fill turns into a fill
at the signal bar's close. Continuous markets and intraday bars are not judged."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from bot.core.bars import BAR_COLUMNS
from bot.engine.backtest import STALE_OPENS, run_backtest
from bot.engine.backtest_request import BacktestRequest
from bot.engine.bar_issues import REPORTED
from bot.engine.data import read_raw
from bot.engine.validation import format_report, validate
from tests.support.bar_rows import checks, repair, strict


def _bars(index: pd.DatetimeIndex, stale: np.ndarray) -> pd.DataFrame:
    # A random walk whose opens gap 0.1-0.5% from the previous close, except where `stale`.
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(index))))
    previous = np.r_[close[0], close[:-1]]
    gap = rng.choice([-1, 1], len(index)) * rng.uniform(0.001, 0.005, len(index))
    open_ = np.where(stale, previous, previous * (1 + gap))
    high, low = np.maximum(open_, close) * 1.005, np.minimum(open_, close) * 0.995
    columns = np.column_stack([open_, high, low, close, np.full(len(index), 1000.0)])
    return pd.DataFrame(columns, index=index.rename("ts"), columns=list(BAR_COLUMNS))


def _daily(stale_year: int | None = None, share: float = 1.0, freq: str = "B") -> pd.DataFrame:
    # 2018-2020; the first `share` of the bars of `stale_year` open at the previous close.
    index = pd.date_range("2018-01-01", "2020-12-31", freq=freq, tz="UTC")
    in_year = index.year == stale_year
    stale = in_year & (np.cumsum(in_year) <= round(share * in_year.sum()))
    return _bars(index, stale)


def _stale_issues(result) -> list:
    return [issue for issue in result.issues if issue.check == "stale_open"]


def test_a_year_of_daily_opens_at_the_previous_close_is_reported_naming_that_year():
    frame = _daily(stale_year=2019)

    result = strict(frame)  # a warning, not a refusal, even under the strict policy

    stale = _stale_issues(result)
    assert checks(result) == ["stale_open"] * (frame.index.year == 2019).sum()
    assert {(issue.ts.year, issue.action) for issue in stale} == {(2019, REPORTED)}
    message = stale[0].message
    assert message.startswith("open equals the previous close on 100% of bars in 2019 (")
    assert "effect fills at the signal bar's close" in message
    assert "flattered; prefer data from 2020 on, or use --start 2020-01-01" in message
    assert "2018" not in message
    assert f"  stale_open: {len(stale)} row(s), reported; " in format_report(result)


def test_clean_bars_and_a_year_under_half_stale_are_not_reported_but_over_half_is():
    clean, under, over = _daily(), _daily(stale_year=2019, share=0.4), _daily(2019, share=0.6)

    results = [strict(frame) for frame in (clean, under, over)]

    assert [checks(result) for result in results[:2]] == [[], []]
    assert format_report(results[0]).endswith("No issues found.")
    assert "60% of bars in 2019" in _stale_issues(results[2])[0].message


@pytest.mark.parametrize(
    ("asset_class", "bar", "freq"),
    [("crypto", "1d", "D"), ("crypto", "1h", "h"), ("fx", "1d", "B"), ("equity", "1h", "bh")],
)
def test_continuous_markets_and_intraday_bars_are_not_reported(asset_class, bar, freq):
    index = pd.date_range("2019-01-01", "2019-02-28", freq=freq, tz="UTC")
    daily_equity = _bars(pd.bdate_range("2019-01-01", periods=len(index), tz="UTC"), True)

    control = repair(daily_equity)
    result = repair(_bars(index, True), asset_class=asset_class, bar=bar)

    assert "stale_open" in checks(control)
    assert "stale_open" not in checks(result)


def test_real_spx_reports_its_stale_opens_up_to_2005_and_none_from_2006():
    raw, asset_class = read_raw("SPX")  # what `bot data check SPX` validates

    result = validate(raw, asset_class=asset_class, bar="1d", policy="repair", label="SPX")

    stale = _stale_issues(result)
    years = {issue.ts.year for issue in stale}
    assert set(range(1995, 2006)) <= years and max(years) == 2005
    message = stale[0].message
    assert " of bars in 1984-1986, 1989-1993, 1995-2005 (over 50% " in message
    assert "prefer data from 2006 on, or use --start 2006-01-01" in message


@pytest.mark.parametrize(("year", "flagged"), [(2003, True), (2017, False)])
def test_a_backtest_flags_stale_opens_only_when_it_trades_those_years(year, flagged):
    # Arrange: a year of SPX inside the stale span, and one after it
    request = BacktestRequest(
        symbol="SPX", policy="single:LongOnly", start=date(year, 1, 1), end=date(year, 12, 31)
    )

    # Act
    result = run_backtest(request)

    # Assert: named in the run's flags (its report shows them) only where the run traded them
    stale = [flag for flag in result.flags if flag.startswith(STALE_OPENS)]
    assert bool(stale) == flagged
    if flagged:
        assert f"of bars in {year} (over 50% " in stale[0]
