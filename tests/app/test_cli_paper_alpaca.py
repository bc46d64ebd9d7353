"""`bot paper --venue alpaca` in a subprocess against the fake Alpaca: the refusals (missing key,
the live endpoint), and a full session that passes the pre-flight, warms up, trades streamed
bars through the router, nets every strategy's fills to the fake's position, and stops cleanly
on SIGINT."""

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine.journal import Journal
from tests.fakes.alpaca import FakeAlpaca
from tests.support.alpaca_node import (
    KEY,
    SECRET,
    alpaca_bot_env,
    serve_alpaca,
    stream_until_orders,
    submitted_orders,
)
from tests.support.cli import run_bot, start_bot

pytestmark = pytest.mark.e2e

PAPER = ["paper", "--venue", "alpaca", "--symbol", "AAPL", "--bar", "1m"]


@pytest.fixture
def alpaca() -> Iterator[FakeAlpaca]:
    with serve_alpaca() as served:
        yield served


def _bot(args: list[str], env: dict[str, str]):
    return run_bot(args, env, timeout=60)


def test_paper_with_a_missing_key_refuses_with_exit_2_naming_the_variable(
    alpaca: FakeAlpaca,
) -> None:
    # Act
    result = _bot(PAPER, alpaca_bot_env(alpaca, keys=False) | {"APCA_API_KEY_ID": KEY})

    # Assert
    assert result.returncode == 2
    assert "APCA_API_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert alpaca.requests == []  # refused before touching the venue


def test_paper_refuses_the_live_endpoint(alpaca: FakeAlpaca) -> None:
    # Act
    env = alpaca_bot_env(alpaca) | {
        "BOT__VENUES__ALPACA__TRADING_URL": "https://api.alpaca.markets"
    }
    result = _bot(PAPER, env)

    # Assert
    assert result.returncode == 2
    assert "Alpaca's live endpoint" in result.stderr and "bot live" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_paper_session_trades_streamed_bars_nets_to_the_fake_and_stops_on_sigint(
    alpaca: FakeAlpaca, persistence_env: dict[str, str]
) -> None:
    # Arrange
    env = alpaca_bot_env(alpaca) | persistence_env
    process = start_bot(PAPER, env)

    try:
        # Act
        stream_until_orders(alpaca, "AAPL")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # Assert
    assert process.returncode == 0, stderr[-3000:]
    summary = stdout.split("Starting the paper node")[0]
    assert "Pre-flight passed: paper trading on Alpaca at a custom endpoint" in summary
    assert "AAPL us_equity (1m bars)" in summary
    assert "100,000.00 USD at the venue" in summary and "shortable, whole shares" in summary
    assert "policy uniform, window 2 bars" in summary
    assert "router decision policy=uniform" in stdout
    assert all(r.status == 200 for r in submitted_orders(alpaca))
    with Journal(Path(env["BOT__JOURNAL__PATH"])) as journal:
        fills = journal.fills(journal.latest_run().run_id)
    signed = fills["qty"].where(fills["side"] == "BUY", -fills["qty"])
    per_strategy = signed.groupby(fills["strategy"]).sum()
    assert len(per_strategy) >= 2
    assert per_strategy.sum() == pytest.approx(alpaca.book.position("AAPL").qty)
    assert "The paper node stopped." in stdout
    assert "Traceback" not in stderr
    assert SECRET not in stdout + stderr


def test_live_refuses_the_paper_endpoint(alpaca: FakeAlpaca) -> None:
    # Arrange: live would pick the live endpoint by itself; an explicit paper URL is a mistake.
    env = alpaca_bot_env(alpaca) | {
        "BOT__VENUES__ALPACA__TRADING_URL": "https://paper-api.alpaca.markets"
    }

    # Act
    result = _bot(["live", "--venue", "alpaca", "--confirm-live"], env)

    # Assert
    assert result.returncode == 2
    assert "Alpaca's paper endpoint" in result.stderr and "bot paper" in result.stderr
    assert "Traceback" not in result.stderr
