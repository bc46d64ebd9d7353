"""The Ray fan-out (bot.core.parallel) against the serial run: the same results, in the same
order."""

import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from bot.core.errors import DataError
from bot.core.parallel import FanOut, Parallel, fan_out
from bot.engine.backtest import run_backtest
from bot.engine.backtest_request import BacktestRequest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

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
        streamed = pool.submit(run_backtest, REQUESTS).each()
        first = next(streamed)  # handed over before the rest are asked for
        each = [first, *streamed]
        failing = pool.submit(run_backtest, [BacktestRequest(symbol="NO_SUCH_SYMBOL")] * 2)
        with pytest.raises(DataError):
            failing.results()
        with pytest.raises(DataError):
            next(pool.submit(run_backtest, [BacktestRequest(symbol="NO_SUCH_SYMBOL")]).each())

    # Assert
    assert [r.request for r in parallel] == [r.request for r in each] == REQUESTS
    assert [r.metrics for r in each] == [r.metrics for r in parallel]
    for ours, theirs in zip(serial, parallel, strict=True):
        pd.testing.assert_series_equal(ours.equity, theirs.equity)
        pd.testing.assert_frame_equal(ours.fills, theirs.fills)
        pd.testing.assert_frame_equal(ours.weights, theirs.weights)
        assert ours.metrics == theirs.metrics
    assert len({round(r.metrics["total_return"], 9) for r in parallel}) == 3  # distinct runs


def test_one_worker_or_one_item_runs_here_without_ray(monkeypatch):
    assert FanOut(Parallel(workers=1), 5).serial
    assert FanOut(Parallel(workers=0), 1).serial
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert not FanOut(Parallel(workers=0), 2).serial
    monkeypatch.setattr("os.cpu_count", lambda: 1)  # one CPU: a 2-run compare gains nothing
    assert FanOut(Parallel(workers=0), 2).serial
    assert fan_out(abs, [-1, 2, -3], Parallel(workers=1)) == [1, 2, 3]
    with FanOut(Parallel(workers=1), 3) as pool:
        assert list(pool.submit(abs, [-1, 2, -3]).each()) == [1, 2, 3]


def test_a_local_ray_starts_and_stops_without_a_word_on_the_terminal():
    # Arrange: a fresh process (the suite shares one Ray session, so it would start none here).
    script = (
        "import json; from bot.core.parallel import Parallel, fan_out; "
        "print(fan_out(json.dumps, [1, 2], Parallel(workers=2)))"
    )

    # Act
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )

    # Assert: the results, and nothing of Ray's start-up (its token note, "Started a local Ray").
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "['1', '2']"
    said = done.stdout + done.stderr
    assert "Token authentication" not in said and "Started a local Ray" not in said, said
