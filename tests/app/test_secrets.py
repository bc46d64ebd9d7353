"""Secrets never reach logs, the journal or reports.

Every secret the bot reads is set to a distinctive value; a live session against the fake
Binance futures API (DEBUG logging, orders and fills) and a backtest then run as subprocesses,
and their output and every file they wrote (log files, the SQLite journal with its WAL, report
tables, plots and charts) are searched byte for byte for each value.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.settings import SECRET_ENV
from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.binance import FakeBinance
from tests.fakes.server import serve_in_thread
from tests.fakes.waiting import kline_around, wait_for
from tests.support import alpaca_node
from tests.support.cli import start_bot
from tests.support.series import SyntheticHistory

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HISTORY = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
SECRETS = {name: f"zz-{name}-7f41c09e" for name in SECRET_ENV}
KLINES = "combined:btcusdt@kline_1m"


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT__", "BINANCE_", "APCA_"))}
    env |= {SECRET_ENV[name]: value for name, value in SECRETS.items()}
    env |= {
        "PYTHONPATH": str(ROOT),
        "BOT__LOGGING__LEVEL": "DEBUG",
        "BOT__LOGGING__DIRECTORY": str(tmp_path / "logs"),
        "BOT__JOURNAL__PATH": str(tmp_path / "journal.sqlite"),
    }
    return env | {f"BOT__{key.upper()}": value for key, value in settings.items()}


def _leaks(texts: list[str], folder: Path) -> list[str]:
    """Where any secret value appears: in `texts`, or in a file under `folder`."""
    found = [f"output: {name}" for name, v in SECRETS.items() for t in texts if v in t]
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {name}" for name, v in SECRETS.items() if v.encode() in data]
    return found


def _assert_a_full_session_without_leaks(process, stdout: str, stderr: str, folder: Path) -> None:
    assert process.returncode == 0, stderr[-3000:]
    assert (folder / "journal.sqlite").stat().st_size > 0
    assert list((folder / "logs").glob("*.json"))
    assert _leaks([stdout, stderr], folder) == []


@pytest.mark.slow
def test_a_live_session_with_orders_leaks_no_secret(tmp_path: Path, redis_server) -> None:
    # Arrange: the fake accepts exactly the keys the environment holds.
    fake = FakeBinance(
        HISTORY,
        futures={"BTCUSDT": ("BTC", "USDT")},
        api_key=SECRETS["binance_api_key"],
        api_secret=SECRETS["binance_api_secret"],
    )
    with serve_in_thread(fake) as binance:
        env = (
            _env(
                tmp_path,
                venues__binance__base_url_http=binance.base_url,
                venues__binance__base_url_ws=binance.ws_url,
                venues__binance__testnet="false",
                router__policy="uniform",
                router__window="2",
                risk__max_order_notional="50000",  # the limits `bot live` needs
                risk__max_instrument_notional="100000",
                risk__max_drawdown="0.25",
            )
            | redis_server.env()
        )
        command = ["live", "--venue", "binance", "--symbol", "BTCUSDT", "--confirm-live"]
        process = start_bot([*command, "--duration-s", "12"], env, tmp_path)
        try:
            wait_for(lambda: binance.hub.listening(KLINES) > 0, 25, "the kline subscription")
            minute = datetime.now(UTC).replace(second=0, microsecond=0)
            for n, close in enumerate([42_000.0, 42_010.0, 42_020.0]):
                binance.push_kline(
                    "BTCUSDT", minute - timedelta(minutes=3 - n), kline_around(close)
                )
            wait_for(lambda: len(binance.requests_to("/fapi/v1/order")) >= 2, 10, "two orders")
            time.sleep(0.5)  # room for the fills to reach the journal
        finally:
            stdout, stderr = process.communicate(timeout=40)

    # Assert: the session did what leaks would come from (signed requests, fills, journal).
    _assert_a_full_session_without_leaks(process, stdout, stderr, tmp_path)
    assert "PositionOpened" in stdout


@pytest.mark.slow
def test_an_alpaca_paper_session_with_orders_leaks_no_secret(tmp_path: Path, redis_server) -> None:
    # Arrange
    fake = FakeAlpaca(
        alpaca_node.recent_history(),
        key_id=SECRETS["alpaca_api_key"],
        secret_key=SECRETS["alpaca_secret_key"],
    )
    with serve_in_thread(fake) as alpaca:
        env = _env(tmp_path, router__policy="uniform", router__window="2")
        env |= alpaca_node.alpaca_env(alpaca) | redis_server.env()
        command = ["paper", "--venue", "alpaca", "--symbol", "AAPL", "--duration-s", "40"]
        process = start_bot(command, env, tmp_path)
        try:
            # Act
            alpaca_node.stream_until_orders(alpaca, "AAPL")
            process.send_signal(signal.SIGINT)
        finally:
            stdout, stderr = process.communicate(timeout=40)

    # Assert
    _assert_a_full_session_without_leaks(process, stdout, stderr, tmp_path)
    assert alpaca_node.submitted_orders(alpaca)


@pytest.mark.slow
def test_a_backtest_report_and_journal_leak_no_secret(tmp_path: Path) -> None:
    # Act
    result = subprocess.run(
        [sys.executable, "-m", "bot", "backtest", "--start", "2023-01-01", "--policy", "uniform"],
        cwd=ROOT,
        env=_env(tmp_path, backtest__report_dir=str(tmp_path / "reports")),
        capture_output=True,
        text=True,
        timeout=300,
    )

    # Assert
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((tmp_path / "reports").rglob("*.png"))
    assert (tmp_path / "journal.sqlite").stat().st_size > 0
    assert _leaks([result.stdout, result.stderr], tmp_path) == []
