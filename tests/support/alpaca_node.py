"""Shared by the tests that run a node or `bot` against the fake Alpaca: the fake over a recent
history, the settings that aim the Alpaca clients at it, and streamed bars after the history."""

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.alpaca_streams import STOCK_FEED, feed_channel
from tests.fakes.alpaca_trading import TRADE_UPDATES
from tests.fakes.faults import FaultPlan
from tests.fakes.server import serve_in_thread
from tests.fakes.waiting import wait_for
from tests.support.series import SyntheticHistory

KEY, SECRET = "alpaca-node-key", "alpaca-node-secret-7c1e"
ROOT = Path(__file__).resolve().parents[2]


def recent_history() -> SyntheticHistory:
    """Six hours of 1-minute bars ending five minutes ago: enough for every warm-up (100 bars,
    the router's 250), and the streamed bars that follow still close in the past. Made when a
    test starts, not at import: bars an hour old would be stale to the risk guard."""
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    return SyntheticHistory(end - timedelta(hours=6), end)


def serve_alpaca(faults: FaultPlan | None = None, market_open: bool = True):
    """The fake Alpaca over a `recent_history` with this module's keys, served in a thread."""
    fake = FakeAlpaca(
        recent_history(), faults, key_id=KEY, secret_key=SECRET, market_open=market_open
    )
    return serve_in_thread(fake)


def alpaca_env(fake: FakeAlpaca) -> dict[str, str]:
    """The settings (as `BOT__` variables) that aim the Alpaca clients at `fake`."""
    return {
        "BOT__VENUES__ALPACA__TRADING_URL": fake.base_url,
        "BOT__VENUES__ALPACA__DATA_URL": fake.base_url,
        "BOT__VENUES__ALPACA__DATA_STREAM_URL": fake.ws_url(""),
    }


def alpaca_bot_env(fake: FakeAlpaca, keys: bool = True) -> dict[str, str]:
    """The environment of a `bot` subprocess against `fake`: this checkout on the path, the
    uniform router every 2 bars, and the keys unless not `keys`; no other BOT__ or APCA_ value."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT__", "APCA_"))}
    env |= {"PYTHONPATH": str(ROOT), "BOT__ROUTER__POLICY": "uniform", "BOT__ROUTER__WINDOW": "2"}
    if keys:
        env |= {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
    return env | alpaca_env(fake)


def push_bars(alpaca: FakeAlpaca, symbol: str, count: int, first: int = 0) -> None:
    """`count` 1-minute bars right after the history, each 0.5% above the last close."""
    close = float(alpaca.history.frame(symbol, 60)["close"].iloc[-1])
    for n in range(first, first + count):
        price = round(close * 1.005 ** (n + 1), 2)
        bar = (price, price * 1.001, price * 0.999, price, 1_000.0)
        assert alpaca.push_bar(symbol, alpaca.history.end + timedelta(minutes=n), bar) == 1


def submitted_orders(alpaca: FakeAlpaca) -> list:
    """The order submissions the fake received."""
    return [r for r in alpaca.requests_to("/v2/orders") if r.method == "POST"]


def stream_until_orders(alpaca: FakeAlpaca, symbol: str) -> None:
    """Once a `bot` node is subscribed and warmed up, stream bars of `symbol` until its warm
    strategies trade, then wait for the orders to settle."""
    bars = feed_channel(STOCK_FEED, "bars", symbol)
    wait_for(lambda: alpaca.hub.listening(bars) == 1, 40, "the bar subscription")
    wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 1, 10, "the trade stream")
    # The router and the strategies (one request serves all eleven) ask for their warm-up
    # history; a bar streamed before it lands would make the strategies discard it as old.
    history = "/v2/stocks/bars"
    wait_for(lambda: len(alpaca.requests_to(history)) >= 2, 30, "the warm-up requests")
    time.sleep(2.0)
    for n in range(10):
        push_bars(alpaca, symbol, 1, first=n)
        if submitted_orders(alpaca):
            break
        time.sleep(1.0)
    wait_for(lambda: not alpaca.book.open_orders() and submitted_orders(alpaca), 10, "settled")
    time.sleep(1.0)  # room for the last fills to reach the node's journal
