"""The all-in/all-out strategy in a nautilus backtest with costs, and Table 1's metrics."""

import numpy as np
import pandas as pd
import pytest

from bot.engine.instruments import make_instrument
from training.llmoe.trading import TradeJob, run_job, table_metrics, targets_of


def _bars(closes):
    # Each day opens at the previous close: an order decided at a close fills at the next open
    # (bot.engine.sim), so the prices below are those of the decision closes.
    index = pd.date_range("2022-01-03", periods=len(closes), freq="B", tz="UTC")
    close = np.asarray(closes, dtype=float)
    opens = np.r_[close[0], close[:-1]]
    high, low = np.maximum(opens, close), np.minimum(opens, close)
    return pd.DataFrame(
        {"open": opens, "high": high, "low": low, "close": close, "volume": 1e6}, index=index
    )


def test_all_in_when_up_all_out_when_down_with_fees_and_slippage():
    bars = _bars([100, 110, 121, 110, 100, 100, 110])
    predictions = np.array([0.9, 0.8, 0.2, 0.3, 0.7, 0.6])  # for the first six days
    job = TradeJob(
        "t", "TEST", bars, targets_of(bars.index[:6], predictions), 10, 0, asset_class="equity"
    )

    equity = run_job(job)

    assert list(equity.index) == list(bars.index)
    assert equity.iloc[0] == pytest.approx(100_000)
    units = 100_000 * 0.995 / 100  # all in at 100, less the reserve
    buy_fee = units * 100 * 1e-3
    assert equity.iloc[2] == pytest.approx(100_000 - buy_fee + units * 21, rel=1e-6)
    after_sale = 100_000 - buy_fee + units * 21 - units * 121 * 1e-3  # sold at 121 on day 3
    assert equity.iloc[3] == pytest.approx(after_sale, rel=1e-6)
    assert equity.iloc[4] == pytest.approx(after_sale, rel=1e-6)  # out: flat through the fall
    units2 = np.floor(after_sale * 0.995 / 100 * 1e6) / 1e6  # to the size step, 1e-6
    expected_end = after_sale - units2 * 100 * 1e-3 + units2 * 10  # back in at 100 on day 5
    assert equity.iloc[-1] == pytest.approx(expected_end, rel=1e-6)


@pytest.mark.parametrize(("symbol", "asset_class"), [("TEST", "equity"), ("BTCUSD", "crypto")])
def test_sizes_are_fractional_as_in_the_other_rows_and_no_costs_means_no_fees(symbol, asset_class):
    # 99,500 / 300 is not a whole number of units: whole units would leave 2/3 of one unspent.
    bars = _bars([300, 330, 363])
    targets = targets_of(bars.index[:2], np.array([0.9, 0.9]))
    job = TradeJob("t", symbol, bars, targets, 0.0, 0.0, asset_class=asset_class)

    equity = run_job(job)

    step = make_instrument(symbol, asset_class, fractional=True).size_increment.as_double()
    units = np.floor(100_000 * 0.995 / 300 / step) * step
    assert step < 1 and equity.iloc[-1] == pytest.approx(100_000 + units * 63, rel=1e-6)


def test_table_metrics_of_a_known_curve():
    index = pd.date_range("2022-01-03", periods=4, freq="D", tz="UTC")
    equity = pd.Series([100.0, 110.0, 99.0, 108.9], index=index)

    metrics = table_metrics(equity)

    assert metrics["TR"] == pytest.approx(0.089)
    assert metrics["MDD"] == pytest.approx(0.1)
    r = np.array([0.1, -0.1, 0.1])
    assert metrics["DD"] == pytest.approx(np.sqrt(np.mean(np.minimum(r, 0) ** 2) * 252))
    assert set(metrics) == {"TR", "SR", "CR", "SoR", "VOL", "DD", "MDD"}
