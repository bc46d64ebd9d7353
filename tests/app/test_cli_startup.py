"""The start-up watchdog of `bot paper`, in a subprocess against the fake Binance USDT-M futures
API whose `positionRisk` answers 503 while the node connects (or the fake Alpaca's `positions`):
nautilus never starts the trader. The node retries, then exits non-zero with a journalled,
alerted reason and `bot status` says "failed to start"; or, when the faults stop after the first
attempt, it starts and trades."""

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.engine.journal import Journal
from bot.engine.startup import (
    NODE_RUNNING_EVENT,
    NODE_START_FAILED_EVENT,
    NODE_START_RETRY_EVENT,
)
from tests.fakes.faults import FaultPlan, HttpFault
from tests.fakes.waiting import kline_around, wait_for
from tests.support.alpaca_node import alpaca_bot_env, serve_alpaca, submitted_orders
from tests.support.cli import KLINES, ROOT, bot_env, run_bot, serve_binance

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAPER = ["paper", "--venue", "binance", "--symbol", "BTCUSDT", "--bar", "1m"]
PAPER_ALPACA = ["paper", "--venue", "alpaca", "--symbol", "AAPL", "--bar", "1m"]
POSITION_RISK = ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk")
TIMEOUT_S = 6.0
# A watchdog of TIMEOUT_S per attempt, two attempts, 0.5 s between them.
WATCHDOG = {
    "BOT__RISK__STARTUP_TIMEOUT_S": str(TIMEOUT_S),
    "BOT__RISK__STARTUP_ATTEMPTS": "2",
    "BOT__RISK__BACKOFF_INITIAL_S": "0.5",
}


def _failing_position_risk(times: int | None) -> FaultPlan:
    return FaultPlan(http=[HttpFault(503, path=path, times=times) for path in POSITION_RISK])


def _position_risk_calls(binance) -> int:
    return sum(len(binance.requests_to(path)) for path in POSITION_RISK)


def _status(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_bot(["status"], env, timeout=60)


def _events(env: dict[str, str], kind: str) -> list:
    with Journal(Path(env["BOT__JOURNAL__PATH"])) as journal:
        run = journal.latest_run()
        return list(journal.events(run.run_id, kind)["payload"])


def test_a_node_that_never_connects_retries_then_exits_non_zero_and_says_why(
    persistence_env: dict[str, str],
) -> None:
    # Arrange: every positionRisk answer is a 503.
    with serve_binance(_failing_position_risk(None)) as binance:
        env = bot_env(binance) | persistence_env | WATCHDOG

        # Act
        began = time.monotonic()
        result = run_bot(PAPER, env, timeout=120)
        took_s = time.monotonic() - began
        status = _status(env)

    # Assert
    assert result.returncode == 7, result.stdout[-3000:] + result.stderr[-3000:]
    assert took_s < 2 * TIMEOUT_S + 40  # two watched attempts, not nautilus' own minutes
    assert "Start-up attempt 1 of 2 failed" in result.stdout
    assert "the node did not start" in result.stderr and "2 attempts" in result.stderr
    assert "Traceback" not in result.stderr
    assert "The paper node stopped." not in result.stdout
    assert [e["attempt"] for e in _events(env, NODE_START_RETRY_EVENT)] == [1]
    (failed,) = _events(env, NODE_START_FAILED_EVENT)
    assert "did not start" in failed["reason"] and failed["attempts"] == 2
    assert _events(env, NODE_RUNNING_EVENT) == []
    assert "start_failed" in result.stdout + result.stderr  # the alert (to the log: no webhook)
    assert status.returncode == 0, status.stderr[-3000:]
    assert "Node: failed to start" in status.stdout
    assert not [r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"]


def test_an_alpaca_node_that_never_connects_exits_non_zero_and_says_why(
    persistence_env: dict[str, str],
) -> None:
    # Arrange: every answer to the positions Alpaca's client reads while it connects is a 503
    # (alpaca-py retries only 429 and 504 by itself).
    plan = FaultPlan(http=[HttpFault(503, path="/v2/positions", times=None)])
    with serve_alpaca(plan) as alpaca:
        env = alpaca_bot_env(alpaca) | persistence_env | WATCHDOG

        # Act
        result = run_bot(PAPER_ALPACA, env, timeout=120)
        status = _status(env)
        orders = submitted_orders(alpaca)

    # Assert
    assert result.returncode == 7, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the node did not start" in result.stderr and "2 attempts" in result.stderr
    (failed,) = _events(env, NODE_START_FAILED_EVENT)
    assert failed["attempts"] == 2
    assert "Node: failed to start" in status.stdout
    assert orders == []


def test_reconciliation_reports_the_venue_keeps_failing_refuse_the_start_not_guess_it(
    persistence_env: dict[str, str],
) -> None:
    # Arrange: the account holds a BTCUSDT position, so reconciliation asks for its orders; every
    # answer is a 503 (nautilus alone would reconcile without them, guessing the difference).
    plan = FaultPlan(http=[HttpFault(503, path="/fapi/v1/allOrders", times=None)])
    with serve_binance(plan) as binance:
        binance.hub.call(lambda: binance.futures.book.submit("BTCUSDT", "buy", 0.5))
        env = bot_env(binance) | persistence_env | WATCHDOG

        # Act
        result = run_bot(PAPER, env, timeout=120)
        asked = len(binance.requests_to("/fapi/v1/allOrders"))
        orders = [r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"]

    # Assert: each attempt asked three times, then refused to reconcile; nothing was traded.
    output = result.stdout + result.stderr
    assert result.returncode == 7, output[-3000:]
    assert asked == 2 * 3
    assert output.count("reconciliation is refused rather than guessed") == 2
    assert "the node did not start" in result.stderr
    assert "INTERNAL-DIFF" not in output
    assert orders == []


def test_a_node_whose_first_start_fails_retries_and_trades(
    persistence_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: the first attempt's positionRisk calls fail, the retry's succeed.
    plan = FaultPlan()
    with serve_binance(plan) as binance:
        # 3 s between attempts: time to see the retry and heal the venue before the next one.
        env = bot_env(binance) | persistence_env | WATCHDOG | {"BOT__RISK__BACKOFF_INITIAL_S": "3"}
        plan.http.extend(_failing_position_risk(None).http)
        log = (tmp_path / "paper.log").open("w")
        node = subprocess.Popen(
            [sys.executable, "-m", "bot", *PAPER], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            wait_for(lambda: _position_risk_calls(binance) > 0, 40, "the first connect")
            wait_for(lambda: _events(env, NODE_START_RETRY_EVENT), 40, "the first retry")
            plan.http.clear()  # the venue recovers
            wait_for(lambda: binance.hub.listening(KLINES) > 0, 40, "the kline subscription")
            starting_or_running = _status(env).stdout

            # Act
            minute = datetime.now(UTC).replace(second=0, microsecond=0)
            for n, close in enumerate([42_000.0, 42_010.0]):
                binance.push_kline(
                    "BTCUSDT", minute - timedelta(minutes=2 - n), kline_around(close)
                )
            wait_for(lambda: len(binance.requests_to("/fapi/v1/order")) >= 2, 20, "two orders")
            running = _status(env)
            node.terminate()
            node.wait(timeout=30)
            stopped = _status(env)
        finally:
            if node.poll() is None:
                node.kill()
            log.close()
    output = (tmp_path / "paper.log").read_text()

    # Assert
    assert node.returncode == 0, output[-3000:]
    assert "Start-up attempt 1 of 2 failed" in output
    assert "Node: starting" in starting_or_running or "Node: running" in starting_or_running
    assert f"Node: running (pid {node.pid})" in running.stdout
    assert "Node: stopped" in stopped.stdout
    assert [e["attempt"] for e in _events(env, NODE_RUNNING_EVENT)] == [2]
    assert _events(env, NODE_START_FAILED_EVENT) == []
    assert "Traceback" not in output


def test_sigint_while_the_node_starts_stops_it_for_good_not_as_a_failed_start(
    persistence_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: positionRisk answers 503, so the node is still starting when Ctrl-C comes; the
    # watchdog would wait a minute before it calls that start failed.
    with serve_binance(_failing_position_risk(None)) as binance:
        env = bot_env(binance) | persistence_env | {"BOT__RISK__STARTUP_TIMEOUT_S": "60"}
        log = (tmp_path / "paper.log").open("w")
        node = subprocess.Popen(
            [sys.executable, "-m", "bot", *PAPER], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            wait_for(lambda: _position_risk_calls(binance) > 0, 40, "the first connect")

            # Act
            node.send_signal(signal.SIGINT)
            node.wait(timeout=30)
            status = _status(env)
        finally:
            if node.poll() is None:
                node.kill()
            log.close()
        orders = [r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"]
    output = (tmp_path / "paper.log").read_text()

    # Assert: stopped at once and for good, as a stop, not retried.
    assert node.returncode == 0, output[-3000:]
    assert "The paper node stopped." in output
    assert "Start-up attempt" not in output and "Traceback" not in output
    assert _events(env, NODE_START_RETRY_EVENT) == []
    assert _events(env, NODE_START_FAILED_EVENT) == []
    assert "Node: stopped" in status.stdout
    assert orders == []
