import numpy as np
import pandas as pd
import pytest

from bot.baselines import BASELINES, baseline_equity, bias_position, kdj_rsi_position, macd_position


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


def test_equity_holds_yesterdays_position_and_pays_fees_on_changes():
    bars = _bars([100, 110, 121, 121])
    position = np.array([1.0, 1.0, -1.0, -1.0])

    equity = baseline_equity(bars, position, 1000.0, fee_bps=10)

    fee = 1 - 10 / 1e4
    flip = 1 - 2 * 10 / 1e4  # a flip trades twice the notional
    expected = [1000, 1000 * 1.1 * fee, 1000 * 1.1 * fee * 1.1, 1000 * 1.1 * fee * 1.1 * flip]
    assert equity.to_numpy() == pytest.approx(expected)


@pytest.mark.parametrize("name", list(BASELINES))
def test_positions_use_no_future_bars(name):
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 200)))
    changed = close.copy()
    changed[150:] *= 1.5

    before = BASELINES[name](_bars(close))[:150]
    after = BASELINES[name](_bars(changed))[:150]

    assert (before == after).all()
