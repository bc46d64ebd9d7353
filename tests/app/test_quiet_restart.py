"""A restart does not re-report the fills it has already booked: `bot paper --venue alpaca`
trades against the fake Alpaca, stops, and starts again. Reconciliation at the second start must
log no "overfill" or "Duplicate TradeId" warning for those fills (Alpaca's fill activities carry
other ids than its trade stream), and every venue fill stays booked exactly once."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.settings import PersistenceSettings
from bot.engine.journal import Journal
from bot.engine.node_state import read_cache
from tests.fakes.alpaca_trading import TRADE_UPDATES
from tests.fakes.waiting import wait_for
from tests.support.alpaca_node import alpaca_bot_env, serve_alpaca, stream_until_orders

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PAPER = ["paper", "--venue", "alpaca", "--symbol", "AAPL", "--bar", "1m"]
NOISE = ("overfill", "Duplicate TradeId")


def _start(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", *PAPER],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stop(process: subprocess.Popen, log: Path) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0, log.read_text()[-3000:]


def _cached_trades(env: dict[str, str]) -> list[str]:
    persistence = PersistenceSettings(
        redis_host=env["BOT__PERSISTENCE__REDIS_HOST"],
        redis_port=int(env["BOT__PERSISTENCE__REDIS_PORT"]),
    )
    orders = read_cache(persistence, persistence.trader_for("paper")).orders
    return [trade.value for order in orders for trade in order.trade_ids]


def test_a_restart_logs_no_overfill_or_duplicate_for_fills_already_booked(
    persistence_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: a session that traded and stopped.
    with serve_alpaca() as alpaca:
        env = alpaca_bot_env(alpaca) | persistence_env
        first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
        first = _start(env, first_log)
        try:
            stream_until_orders(alpaca, "AAPL")
        finally:
            _stop(first, first_log)
        wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 0, 10, "the first node to go")
        venue_fills = alpaca.hub.call(lambda: len(alpaca.trading.fills))

        # Act: start again, let reconciliation finish, stop.
        second = _start(env, second_log)
        try:
            wait_for(lambda: "Execution state reconciled" in second_log.read_text(), 40, "recon")
            wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 1, 20, "the trade stream")
        finally:
            _stop(second, second_log)

    # Assert
    output = second_log.read_text()
    assert venue_fills > 0
    assert "Pre-flight passed" in output and "Execution state reconciled" in output
    noisy = [line for line in output.splitlines() if any(word in line for word in NOISE)]
    assert noisy == []
    trades = _cached_trades(env)
    assert len(trades) == len(set(trades)) == venue_fills
    with Journal(Path(env["BOT__JOURNAL__PATH"])) as journal:
        runs = journal.runs()["run_id"].tolist()
        journalled = [len(journal.fills(run)) for run in runs]
    assert journalled == [venue_fills, 0]
