"""Fixtures and helpers for tests that run the live TradingNode of `bot.engine.node` against the
fake Binance USDT-M futures API: the fake with a fault plan, the built node (its cache in the test's
own Redis, `tests.conftest.redis_server`), running it in a thread, pushing klines, and reading
what the node and the fake hold.

The fixtures (`faults`, `binance`, `overrides`, `journal_path`, `node`) reach every test as a
pytest plugin (`tests/conftest.py`); test modules import the helpers."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nautilus_trader.live.node import TradingNode

from bot.core.settings_loader import load_settings
from bot.engine.node import build_trading_node
from bot.engine.router import RouterActor
from bot.model.policy import load_policy
from strategies.base import RoutedStrategy
from tests.conftest import RedisServer
from tests.fakes.binance import FakeBinance
from tests.fakes.faults import FaultPlan
from tests.fakes.server import serve_in_thread
from tests.fakes.waiting import kline_around, wait_for
from tests.support.series import SyntheticHistory

# Half the capital in LongOnly, half in cash: one strategy that trades, for the fault tests.
LONG_ONLY = {"router.policy": "fixed", "router.weights": {"LongOnly": 0.5, "Cash": 0.5}}
HISTORY = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
KEY, SECRET = "node-test-key", "node-test-secret"
KLINES = "combined:btcusdt@kline_1m"
ORDER = "/fapi/v1/order"


@pytest.fixture
def faults() -> FaultPlan:
    """The fault plan of the fake (none unless a test overrides this fixture or adds to it)."""
    return FaultPlan()


@pytest.fixture
def binance(faults: FaultPlan) -> Iterator[FakeBinance]:
    fake = FakeBinance(
        HISTORY, faults, futures={"BTCUSDT": ("BTC", "USDT")}, api_key=KEY, api_secret=SECRET
    )
    with serve_in_thread(fake) as served:
        yield served


@pytest.fixture
def overrides() -> dict:
    """Settings a test changes (dotted keys), over the fixture's."""
    return {}


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """The node's journal (router decisions, fills, kill-switch events)."""
    return tmp_path / "journal.sqlite"


@pytest.fixture
def node(
    binance: FakeBinance,
    monkeypatch: pytest.MonkeyPatch,
    overrides: dict,
    redis_server: RedisServer,
    journal_path: Path,
    tmp_path: Path,
) -> Iterator[TradingNode]:
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    loaded = load_settings(
        cli={
            "venues.binance.market": "usdt_futures",
            "venues.binance.testnet": False,
            "venues.binance.base_url_http": binance.base_url,
            "venues.binance.base_url_ws": binance.ws_url,
            "router.policy": "uniform",
            "router.window": 2,
            "logging.level": "WARNING",
            "logging.directory": str(tmp_path / "logs"),
            "journal.path": str(journal_path),
        }
        | redis_server.settings()
        | overrides
    )
    # Built in the main thread (nautilus installs signal handlers there), run in another.
    loop = asyncio.new_event_loop()
    node = build_trading_node(
        loaded.settings,
        loaded.secrets,
        symbol="BTCUSDT",
        bar="1m",
        loop=loop,
        timeout_post_stop=0.5,
        load_policy=load_policy,
    )
    yield node
    if not loop.is_closed():  # the test failed before disposing
        asyncio.run_coroutine_threadsafe(node.stop_async(), loop).result(timeout=10)
        node.dispose()


@contextmanager
def running(node: TradingNode, binance: FakeBinance) -> Iterator[threading.Thread]:
    """Run `node` in a thread until its kline subscription is live; stop and dispose after."""
    runner = threading.Thread(target=node.run, name="trading-node", daemon=True)
    runner.start()
    wait_for(lambda: binance.hub.listening(KLINES) > 0, 20, "the kline subscription")
    yield runner
    asyncio.run_coroutine_threadsafe(node.stop_async(), node.get_event_loop()).result(timeout=15)
    runner.join(timeout=10)
    node.dispose()


def push_closed_klines(binance: FakeBinance, closes: list[float]) -> None:
    """Closed 1-minute klines ending a minute ago, then the current minute still open."""
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    for n, close in enumerate(closes):
        binance.push_kline(
            "BTCUSDT", minute - timedelta(minutes=len(closes) - n), kline_around(close)
        )
    binance.push_kline("BTCUSDT", minute, kline_around(close + 1_000.0), closed=False)


def components(node: TradingNode) -> tuple[RouterActor, list[RoutedStrategy]]:
    """The node's router actor and its routed strategies."""
    actor = next(a for a in node.trader.actors() if isinstance(a, RouterActor))
    return actor, [s for s in node.trader.strategies() if isinstance(s, RoutedStrategy)]


def venue_qty(binance: FakeBinance) -> float:
    """The fake's net BTCUSDT position."""
    return binance.hub.call(lambda: binance.futures.book.position("BTCUSDT").qty)


def held(node: TradingNode, strategy: RoutedStrategy) -> float:
    """The signed quantity of `strategy`'s open positions in the node's cache."""
    return sum(p.signed_qty for p in node.cache.positions_open(strategy_id=strategy.id))


def submits(binance: FakeBinance) -> list:
    """The order submits the fake received, in arrival order."""
    return [r for r in binance.requests_to(ORDER) if r.method == "POST"]
