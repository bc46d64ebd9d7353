"""A backtest streamed into the engine in chunks equals the same backtest loaded at once."""

from dataclasses import replace
from datetime import date

import pandas as pd
import pytest

from bot.engine.backtest import run_backtest
from bot.engine.backtest_request import BacktestRequest
from bot.model.policy import load_policy

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_streamed_chunks_give_the_result_of_one_load():
    # Arrange: a month of real 15-minute bars (about 2,900 bars plus warm-up)
    whole = BacktestRequest(
        symbol="BTCUSD", bar="15m", start=date(2021, 11, 1), end=date(2021, 11, 30)
    )
    streamed = replace(whole, stream_bars=500)  # six chunks, boundaries inside the run

    # Act
    once, chunked = run_backtest(whole, load_policy), run_backtest(streamed, load_policy)

    # Assert
    assert len(once.bars) > 4 * streamed.stream_bars and len(once.fills) > 0
    pd.testing.assert_series_equal(once.equity, chunked.equity)
    pd.testing.assert_frame_equal(once.fills, chunked.fills)
    pd.testing.assert_frame_equal(once.pnl, chunked.pnl)
    pd.testing.assert_frame_equal(once.weights, chunked.weights)
    assert once.metrics == chunked.metrics
