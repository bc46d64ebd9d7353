"""Metrics on curves and fills whose answers are worked out by hand."""

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from bot.core.metrics import (
    KEYS,
    cagr,
    calmar,
    costs,
    daily_equity,
    max_drawdown,
    performance,
    returns_of,
    round_trips,
    sharpe,
    sortino,
    summarize,
    time_in_market,
    total_return,
    turnover,
    volatility,
    win_rate,
)

RETURN_METRICS = (total_return, cagr, volatility, sharpe, sortino, max_drawdown, calmar)


def _fills(rows: list[tuple[str, str, str, float, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ts", "strategy", "side", "qty", "price", "commission"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _days(values: list[float], start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", tz="UTC"))


def test_constant_growth_compounds_and_has_no_risk():
    equity = 100 * 1.001 ** np.arange(253)  # 252 daily returns of 0.1%

    r = returns_of(equity)

    assert total_return(r) == pytest.approx(1.001**252 - 1, rel=1e-12)
    assert cagr(r, 252) == pytest.approx(1.001**252 - 1, rel=1e-12)  # exactly one year
    assert volatility(r) == pytest.approx(0.0, abs=1e-12)
    assert sharpe(r) == 0.0  # zero variance: 0, not inf
    assert sortino(r) == 0.0  # no losing period
    assert max_drawdown(r) == 0.0
    assert calmar(r) == 0.0


def test_cagr_of_doubling_over_two_years():
    r = np.full(504, 2 ** (1 / 504) - 1)

    assert cagr(r, 252) == pytest.approx(math.sqrt(2) - 1, rel=1e-9)
    assert cagr(r, 504) == pytest.approx(1.0, rel=1e-9)


def test_curve_that_loses_everything_has_cagr_minus_one():
    assert cagr(np.array([0.1, -1.0, 0.0])) == -1.0


def test_max_drawdown_of_a_known_path():
    path = returns_of([100, 120, 90, 110, 60, 80, 130])

    assert max_drawdown(path) == pytest.approx(0.5)  # 120 -> 60
    assert max_drawdown(returns_of([100, 80, 120])) == pytest.approx(0.2)  # a first-day loss


def test_sharpe_sortino_and_volatility_by_hand():
    r = np.array([0.02, 0.0])  # mean 0.01, sample std 0.01 * sqrt(2)
    s = np.array([0.02, -0.01])  # mean 0.005, downside deviation sqrt(0.0001 / 2)

    assert sharpe(r, 252) == pytest.approx(math.sqrt(126), rel=1e-12)
    assert volatility(r, 252) == pytest.approx(math.sqrt(0.0002 * 252), rel=1e-12)
    assert sortino(s, 252) == pytest.approx(math.sqrt(126), rel=1e-12)
    assert sharpe(r, 365) == pytest.approx(math.sqrt(365 / 2), rel=1e-12)


def test_sharpe_matches_the_numpy_formula_on_a_random_series():
    r = np.random.default_rng(1).normal(0.0005, 0.01, 500)

    expected = r.mean() / r.std(ddof=1) * np.sqrt(252)

    assert sharpe(r) == pytest.approx(expected, rel=1e-12)


def test_calmar_is_cagr_over_drawdown():
    r = returns_of([100, 90, 99, 108])  # 3 periods, drawdown 10%, total +8%

    assert calmar(r, 3) == pytest.approx(0.08 / 0.1, rel=1e-12)


@pytest.mark.parametrize("metric", RETURN_METRICS)
def test_no_returns_give_zero(metric):
    assert metric(np.empty(0)) == 0.0


def test_one_return_has_growth_but_no_risk():
    r = np.array([-0.05])

    assert total_return(r) == pytest.approx(-0.05)
    assert cagr(r, 252) == pytest.approx(0.95**252 - 1)
    assert max_drawdown(r) == pytest.approx(0.05)
    assert (volatility(r), sharpe(r), sortino(r)) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("metric", RETURN_METRICS)
def test_series_with_a_leading_nan_equals_the_array(metric):
    prices = pd.Series([100.0, 101.0, 99.5, 102.0, 98.0, 103.0])
    as_series = prices.pct_change()  # first value NaN

    assert metric(as_series) == pytest.approx(metric(returns_of(prices.to_numpy())), rel=1e-12)


def test_performance_bundles_the_seven_return_metrics():
    r = np.random.default_rng(2).normal(0.0, 0.01, 300)

    result = performance(r, 365)

    assert result == {
        "total_return": total_return(r),
        "cagr": cagr(r, 365),
        "volatility": volatility(r, 365),
        "sharpe": sharpe(r, 365),
        "sortino": sortino(r, 365),
        "max_drawdown": max_drawdown(r),
        "calmar": calmar(r, 365),
    }


def test_return_metrics_are_cheap_enough_for_a_reward():
    windows = np.random.default_rng(3).normal(0.0, 0.01, (2000, 60))

    started = time.perf_counter()
    for window in windows:
        performance(window)
    elapsed = time.perf_counter() - started

    assert elapsed < 2.0  # about 0.1 s here; thousands of reward calls must stay cheap


def test_daily_equity_keeps_the_last_value_of_each_utc_day():
    stamps = pd.to_datetime(
        ["2024-01-01 10:00", "2024-01-01 21:00", "2024-01-03 09:00", "2024-01-03 15:00"], utc=True
    )

    daily = daily_equity(pd.Series([1.0, 2.0, 3.0, 4.0], index=stamps))

    assert daily.to_dict() == {
        pd.Timestamp("2023-12-31", tz="UTC"): 1.0,  # the first value opens the first day
        pd.Timestamp("2024-01-01", tz="UTC"): 2.0,
        pd.Timestamp("2024-01-03", tz="UTC"): 4.0,  # the empty day in between is dropped
    }


def test_daily_equity_of_one_value_a_day_adds_no_opening():
    equity = _days([100.0, 101.0, 102.0])

    assert daily_equity(equity).tolist() == [100.0, 101.0, 102.0]


def test_daily_equity_cuts_days_in_utc():
    stamps = pd.to_datetime(["2024-01-01 18:00", "2024-01-01 23:30"]).tz_localize(
        "America/New_York"
    )

    daily = daily_equity(pd.Series([1.0, 2.0], index=stamps))

    assert list(daily.index) == list(pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True))


def test_daily_equity_refuses_a_naive_index():
    with pytest.raises(ValueError, match="timezone-aware"):
        daily_equity(pd.Series([1.0], index=pd.to_datetime(["2024-01-01"])))


def test_round_trips_per_strategy_after_commissions():
    fills = _fills(
        [
            ("2024-01-01", "A", "BUY", 10, 100.0, 1.0),
            ("2024-01-02", "B", "SELL", 5, 50.0, 0.5),
            ("2024-01-03", "A", "SELL", 4, 110.0, 0.4),
            ("2024-01-04", "B", "BUY", 5, 60.0, 0.5),
            ("2024-01-05", "A", "SELL", 6, 110.0, 0.6),
            ("2024-01-06", "A", "BUY", 3, 120.0, 0.3),  # still open: not counted
        ]
    )

    trips = round_trips(fills.sample(frac=1.0, random_state=0))  # order of rows does not matter

    assert sorted(trips) == pytest.approx(sorted([100.0 - 2.0, -50.0 - 1.0]))


def test_a_fill_through_zero_closes_and_opens():
    fills = _fills(
        [
            ("2024-01-01", "A", "BUY", 10, 100.0, 1.0),
            ("2024-01-02", "A", "SELL", 15, 110.0, 1.5),  # closes 10, opens a 5 short
            ("2024-01-03", "A", "BUY", 5, 100.0, 0.5),
        ]
    )

    assert round_trips(fills) == pytest.approx([100.0 - 1.0 - 1.0, 50.0 - 0.5 - 0.5])


def test_win_rate_costs_and_trades_from_fills():
    fills = _fills(
        [
            ("2024-01-01", "A", "BUY", 10, 100.0, 1.0),
            ("2024-01-02", "A", "SELL", 10, 110.0, 1.0),
            ("2024-01-03", "A", "BUY", 10, 100.0, 1.0),
            ("2024-01-04", "A", "SELL", 10, 100.1, 1.0),  # +1 gross, -1 after fees
            ("2024-01-05", "B", "SELL", 2, 100.0, 1.0),
            ("2024-01-06", "B", "BUY", 2, 90.0, 1.0),
        ]
    )

    assert win_rate(fills) == pytest.approx(2 / 3)
    assert costs(fills) == pytest.approx(6.0)
    assert win_rate(fills.iloc[:1]) is None  # nothing closed


def test_turnover_is_notional_over_equity_per_year():
    fills = _fills(
        [
            ("2024-01-01", "A", "BUY", 10, 100.0, 0.0),
            ("2024-01-02", "A", "SELL", 10, 150.0, 0.0),
        ]
    )

    assert turnover(fills, average_equity=1000.0, years=0.5) == pytest.approx(2500 / 1000 / 0.5)
    assert turnover(fills.iloc[:0], 1000.0, 1.0) == 0.0


def test_time_in_market_counts_bars_with_exposure():
    assert time_in_market(pd.Series([0.0, 0.5, 0.0, 1.2])) == 0.5
    assert time_in_market(np.array([1e-15, -0.3])) == 0.5  # float dust is flat; shorts count
    assert time_in_market(np.empty(0)) == 0.0


def test_summarize_a_run_with_fills_and_exposure():
    equity = _days([1000.0, 1100.0, 990.0, 1089.0, 1200.0])
    fills = _fills(
        [
            ("2024-01-01", "A", "BUY", 10, 100.0, 1.0),
            ("2024-01-04", "A", "SELL", 10, 110.0, 1.0),
        ]
    )
    exposure = pd.Series([0.0, 1.0, 1.0, 0.0, 0.0], index=equity.index)

    result = summarize(equity, fills=fills, exposure=exposure, periods_per_year=365)

    assert tuple(result) == KEYS
    assert result["total_return"] == pytest.approx(0.2)
    assert result["max_drawdown"] == pytest.approx(0.1)
    assert result["sharpe"] == pytest.approx(sharpe(returns_of(equity), 365))
    years = 4 / 365
    assert result["turnover"] == pytest.approx(2100 / equity.mean() / years)
    assert result["costs"] == 2.0
    assert result["trades"] == 2.0
    assert result["win_rate"] == 1.0
    assert result["exposure"] == pytest.approx(0.4)
    assert result["gross_exposure"] == pytest.approx(0.4)


def test_summarize_resamples_intraday_equity_to_daily():
    stamps = pd.date_range("2024-01-01", periods=96 * 5, freq="15min", tz="UTC")
    equity = pd.Series(np.linspace(100.0, 150.0, len(stamps)), index=stamps)

    result = summarize(equity)

    daily = np.r_[100.0, equity.groupby(equity.index.date).last().to_numpy()]
    assert result["total_return"] == pytest.approx(0.5)
    assert result["sharpe"] == pytest.approx(sharpe(returns_of(daily)))


def test_summarize_counts_the_first_day_of_an_intraday_curve():
    # A 15m run that gains 10% on its first day and then holds: the first day's close was
    # taken as the start, so the run showed a total return of 0.
    stamps = pd.date_range("2024-01-01 00:15", periods=96 * 3, freq="15min", tz="UTC")
    equity = pd.Series(np.r_[np.linspace(100.0, 110.0, 95), np.full(96 * 3 - 95, 110.0)], stamps)

    result = summarize(equity)

    assert result["total_return"] == pytest.approx(0.10)
    assert result["max_drawdown"] == 0.0


def test_summarize_marks_what_was_not_measured():
    equity = _days([100.0, 101.0, 102.0])

    without = summarize(equity)
    empty = summarize(equity, fills=_fills([]), exposure=pd.Series(dtype=float))

    trade_keys = ("turnover", "costs", "trades", "win_rate", "exposure", "gross_exposure")
    assert all(without[key] is None for key in trade_keys)
    assert (empty["turnover"], empty["costs"], empty["trades"]) == (0.0, 0.0, 0.0)
    assert empty["win_rate"] is None
    assert empty["exposure"] == 0.0


def test_summarize_of_a_wiped_out_curve_is_json_safe():
    equity = _days([100.0, 50.0, 0.0, 0.0, 10.0])

    result = summarize(equity)

    text = json.dumps(result, allow_nan=False)  # raises on NaN or inf
    assert json.loads(text)["cagr"] == -1.0
    assert result["total_return"] == pytest.approx(-1.0)
    assert result["max_drawdown"] == pytest.approx(1.0)
    assert all(value is None or math.isfinite(value) for value in result.values())
