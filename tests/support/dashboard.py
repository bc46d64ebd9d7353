"""The dashboard under test: served in this process, looked at with Debian's headless Chromium,
over a paper session written to the journal and Redis as a node writes them.

`docs/screenshots.py` uses the same pieces to take the README's screenshots.
"""

import asyncio
import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from aiohttp import web
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import PositionId, StrategyId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.model.position import Position
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.test_kit.stubs.component import TestComponentStubs
from nautilus_trader.test_kit.stubs.events import TestEventStubs
from nautilus_trader.test_kit.stubs.execution import TestExecStubs

from bot.app.dashboard.server import create_app
from bot.core.settings import PersistenceSettings
from bot.engine.journal import DecisionRecord, Journal, RunRecord
from bot.engine.node_state import GUARD, _database
from bot.engine.persistence import NODE_STARTED_EVENT
from bot.engine.startup import NODE_RUNNING_EVENT
from tests.conftest import free_port

TRADER = "MMDREX-PAPER"
SESSION = "paper-session-1"
MINUTE_NS = 60 * 10**9


@contextmanager
def serve_dashboard(
    journal: Path, persistence: PersistenceSettings, token: str | None = None, host="127.0.0.1"
) -> Iterator[str]:
    """The dashboard over `journal` and `persistence`, served from a thread on a free port of
    `host`; yields its base URL on 127.0.0.1."""
    ready, port = threading.Event(), free_port()
    loop, stop = asyncio.new_event_loop(), asyncio.Event()

    def run() -> None:
        runner = web.AppRunner(create_app(journal, persistence, token), access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, host, port).start())
        ready.set()
        loop.run_until_complete(stop.wait())
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError(f"The dashboard did not start on {host}:{port}.")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def chromium(width: int = 1400, height: int = 1000):
    """Debian's Chromium, headless, driven by its own chromedriver (no browser download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        raise RuntimeError(
            "The browser tests need Debian's Chromium: `apt-get install -y chromium "
            "chromium-driver` (.ci/run installs them)."
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(options=options, service=Service(driver))


def write_paper_session(journal_path: Path, persistence: PersistenceSettings, now: pd.Timestamp):
    """A running paper session as a node leaves it: its run, start events, decisions, fills and
    a kill switch event in the journal; its risk guard's state (last bar a minute before `now`)
    and one open position per traded strategy in Redis. Returns the last bar's state."""
    bar_ns = int(now.floor("min").value) - MINUTE_NS
    weights = [
        {"MACross": 0.6, "LongOnly": 0.4},
        {"MACross": 0.25, "RSI": 0.25, "LongOnly": 0.5},
    ]
    experts = [
        {"trend": 0.6, "reversal": 0.0, "breakout": 0.0, "position": 0.4},
        {"trend": 0.25, "reversal": 0.25, "breakout": 0.0, "position": 0.5},
    ]
    with Journal(journal_path) as journal:
        run = RunRecord(SESSION, "paper", "BTCUSDT", "1m", "uniform", {"risk": {}})
        journal.start_run(run)
        node = {"venue": "binance", "trader_id": TRADER, "pid": os.getpid()}
        node["host"] = socket.gethostname()
        journal.record_event(SESSION, bar_ns - 3 * MINUTE_NS, NODE_STARTED_EVENT, node)
        journal.record_event(SESSION, bar_ns - 3 * MINUTE_NS, NODE_RUNNING_EVENT, {"attempt": 1})
        for n, (weight, expert) in enumerate(zip(weights, experts, strict=True)):
            ts = bar_ns - (1 - n) * MINUTE_NS
            journal.record_decision(
                DecisionRecord(SESSION, ts, "BTCUSDT", n, weight, expert, "uniform", close=42_000.0)
            )
        journal.record_fill(SESSION, bar_ns - MINUTE_NS, "MACross", "BUY", 0.5, 42_000.0, 2.1)
        journal.record_fill(SESSION, bar_ns - MINUTE_NS, "LongOnly", "BUY", 0.25, 42_000.0, 1.05)
        journal.record_event(SESSION, bar_ns, "kill_switch_armed", {"peak": 101_000.0})
    last_bar = {"ts": bar_ns, "close": 42_010.0, "equity": 100_250.5}
    save_guard_state(persistence, last_bar, {"peak": 101_000.0})
    _save_positions(persistence, {"MACross": "0.5", "LongOnly": "0.25"})
    return last_bar


def save_guard_state(persistence: PersistenceSettings, last_bar: dict, kill_switch: dict) -> None:
    """Save the risk guard's state in Redis as the node's guard does every bar."""
    guard = _Saved(GUARD.value, {"last_bar": last_bar, "kill_switch": kill_switch})
    stubs = TestComponentStubs
    guard.register_base(
        portfolio=stubs.portfolio(), msgbus=stubs.msgbus(), cache=stubs.cache(), clock=stubs.clock()
    )
    database = _database(persistence, TRADER)
    try:
        database.update_actor(guard)
    finally:
        database.close()


class _Saved(Actor):
    def __init__(self, component_id: str, state: dict) -> None:
        super().__init__(ActorConfig(component_id=component_id))
        self._state = state

    def on_save(self) -> dict[str, bytes]:
        return {key: json.dumps(value).encode() for key, value in self._state.items()}


def _save_positions(persistence: PersistenceSettings, quantities: dict[str, str]) -> None:
    instrument = TestInstrumentProvider.btcusdt_binance()
    database = _database(persistence, TRADER)
    try:
        database.add_instrument(instrument)
        for name, qty in quantities.items():
            strategy = StrategyId(f"{name}-001")
            order = TestExecStubs.market_order(
                instrument=instrument, order_side=OrderSide.BUY, quantity=Quantity.from_str(qty)
            )
            fill = TestEventStubs.order_filled(
                order,
                instrument,
                strategy_id=strategy,
                position_id=PositionId(f"{instrument.id}-{strategy}"),
                last_px=Price.from_str("42000.00"),
            )
            database.add_position(Position(instrument, fill))
    finally:
        database.close()
