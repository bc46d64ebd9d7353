import numpy as np
import pandas as pd
import pytest

from training.rule_baselines import (
    RULE_BASELINES,
    baseline_equity,
    bbi_position,
    bias_position,
    cr_position,
    kdj_rsi_position,
    macd_position,
    rule_positions,
    wr_position,
)


def _bars(close) -> pd.DataFrame:
    close = np.asarray(close, dtype=float)
    index = pd.date_range("2020-01-01", periods=len(close), freq="D", tz="UTC")
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
         "volume": 1000.0}, index=index,
    )  # fmt: skip


def test_macd_is_long_in_an_uptrend_and_short_in_a_downtrend():
    up = macd_position(_bars(np.linspace(100, 200, 120)))
    down = macd_position(_bars(np.linspace(200, 100, 120)))

    assert (up[40:] == 1).all() and (down[40:] == -1).all()


def test_bias_fades_the_move_away_from_the_average():
    assert bias_position(_bars(np.linspace(100, 200, 60)))[-1] == -1
    assert bias_position(_bars(np.linspace(200, 100, 60)))[-1] == 1


def test_kdj_rsi_buys_only_a_deep_oversold_drop():
    close = np.r_[np.full(40, 100.0), np.linspace(100, 60, 15)]

    position = kdj_rsi_position(_bars(close))

    assert position[-1] == 1 and (position[:40] == 0).all()


def test_cr_follows_the_close_against_the_bars_typical_price():
    bars = pd.DataFrame(
        {
            "open": [10.0, 11.0, 10.0],
            "high": [12.0, 12.0, 11.0],
            "low": [9.0, 9.0, 9.0],
            "close": [11.0, 9.5, 10.0],
        },
    )  # fmt: skip  typical prices 10.5, 10.375, 10.0

    assert cr_position(bars).tolist() == [1.0, -1.0, 0.0]


def test_bbi_needs_24_bars_then_follows_the_close_against_the_mean_of_four_averages():
    close = np.r_[np.full(29, 100.0), 110.0, 90.0]

    position = bbi_position(_bars(close))

    assert (position[:29] == 0).all()  # unfilled, then close == BBI on a flat line
    assert position[29] == 1  # 110 > (103.33 + 101.67 + 100.83 + 100.42) / 4
    assert position[30] == -1


def test_wr_buys_the_bottom_and_sells_the_top_of_the_last_14_bars():
    close = np.r_[np.arange(100.0, 114.0), 90.0, 108.0, 110.0]  # bars 0..13 rise, then 14..16
    bars = _bars(close).assign(high=close, low=close)

    position = wr_position(bars)

    assert (position[:13] == 0).all()  # the 14-bar range is not filled yet
    assert position[13] == -1  # at the 14-bar high 113: WR = 0 > -20
    assert position[14] == 1  # at the 14-bar low 90: WR = -100 < -80
    assert position[15] == 0  # WR = -100 x (113 - 108) / (113 - 90) = -21.7
    assert position[16] == -1  # WR = -100 x (113 - 110) / 23 = -13.0


def test_equity_enters_at_the_next_open_paying_fee_and_slippage():
    bars = pd.DataFrame(
        {"open": [100.0, 102.0, 99.0], "close": [101.0, 100.0, 103.0]},
        index=pd.date_range("2020-01-01", periods=3, freq="D", tz="UTC"),
    )
    position = np.array([1.0, -1.0, 1.0])  # decided at each close

    equity = baseline_equity(bars, position, 1000.0, fee_bps=10, slippage_bps=1)

    # Bar 0: nothing held. Bar 1: buy at its open 102 paying 11 bps, hold to the close 100.
    # Bar 2: the long gaps 100 -> 99, flips to short at the open paying 2 x 11 bps, and the
    # short loses 99 -> 103. The last decision is never traded.
    day1 = 1000 * (1 - 0.0011) * 100 / 102
    day2 = day1 * (99 / 100) * (1 - 0.0022) * (1 - (103 / 99 - 1))
    assert equity.to_numpy() == pytest.approx([1000.0, day1, day2], rel=1e-12)
    assert day2 == pytest.approx(928.30, abs=0.01)


@pytest.mark.parametrize("name", list(RULE_BASELINES))
def test_positions_use_no_future_bars(name):
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 200)))
    changed = close.copy()
    changed[150:] *= 1.5

    before = RULE_BASELINES[name](_bars(close))[:150]
    after = RULE_BASELINES[name](_bars(changed))[:150]

    assert (before == after).all()


def test_long_only_positions_are_flat_where_the_rules_go_short():
    # Spot crypto: the routed strategies may not short, so neither may the baselines.
    rng = np.random.default_rng(2)
    bars = _bars(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300))))

    both = rule_positions(bars, long_only=False)
    long_only = rule_positions(bars, long_only=True)

    assert set(both) == set(RULE_BASELINES)
    assert sum((both[name] < 0).sum() for name in both) > 100  # the rules do short here
    for name, position in long_only.items():
        assert np.array_equal(position, np.where(both[name] < 0, 0.0, both[name]))
