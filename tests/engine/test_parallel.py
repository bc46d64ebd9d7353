"""The Ray fan-out (bot.core.parallel) against the serial run: the same results, in the same
order."""

from datetime import date

import pandas as pd
import pytest

from bot.core.errors import DataError
from bot.core.parallel import FanOut, Parallel, fan_out
from bot.engine.backtest import run_backtest
from bot.engine.backtest_request import BacktestRequest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = [
    BacktestRequest(symbol="SPX", policy=policy, start=date(2018, 1, 1), end=date(2018, 9, 30))
    for policy in ("uniform", "random", "single:MACross")
]


def test_ray_workers_give_the_serial_results_in_request_order():
    # Arrange
    serial = fan_out(run_backtest, REQUESTS, Parallel(workers=1))

    # Act: real local Ray, two worker processes; a failing run raises its own error type
    with FanOut(Parallel(workers=2), len(REQUESTS)) as pool:
        assert not pool.serial
        parallel = pool.submit(run_backtest, REQUESTS).results()
        failing = pool.submit(run_backtest, [BacktestRequest(symbol="NO_SUCH_SYMBOL")] * 2)
        with pytest.raises(DataError):
            failing.results()

    # Assert
    assert [r.request for r in parallel] == REQUESTS
    for ours, theirs in zip(serial, parallel, strict=True):
        pd.testing.assert_series_equal(ours.equity, theirs.equity)
        pd.testing.assert_frame_equal(ours.fills, theirs.fills)
        pd.testing.assert_frame_equal(ours.weights, theirs.weights)
        assert ours.metrics == theirs.metrics
    assert len({round(r.metrics["total_return"], 9) for r in parallel}) == 3  # distinct runs


def test_one_worker_or_one_item_runs_here_without_ray():
    assert FanOut(Parallel(workers=1), 5).serial
    assert FanOut(Parallel(workers=0), 1).serial
    assert fan_out(abs, [-1, 2, -3], Parallel(workers=1)) == [1, 2, 3]
