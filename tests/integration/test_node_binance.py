"""The live TradingNode from `bot.node` against the fake Binance USDT-M futures API: it loads the
instrument, subscribes to the kline stream, turns closed klines into bars that reach the router
actor and every strategy, and stops cleanly."""

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from nautilus_trader.live.node import TradingNode

from bot.node import build_trading_node
from bot.risk import RiskGuard
from bot.router import RouterActor
from bot.settings import load_settings
from strategies.base import RoutedStrategy
from tests.fakes.binance import FakeBinance
from tests.fakes.series import SyntheticHistory
from tests.fakes.server import serve_in_thread
from tests.fakes.waiting import kline_around, wait_for

HISTORY = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
KEY, SECRET = "node-test-key", "node-test-secret"
KLINES = "combined:btcusdt@kline_1m"


@pytest.fixture
def binance() -> Iterator[FakeBinance]:
    fake = FakeBinance(
        HISTORY, futures={"BTCUSDT": ("BTC", "USDT")}, api_key=KEY, api_secret=SECRET
    )
    with serve_in_thread(fake) as served:
        yield served


@pytest.fixture
def overrides() -> dict:
    """Settings a test changes (dotted keys), over the fixture's."""
    return {}


@pytest.fixture
def node(
    binance: FakeBinance, monkeypatch: pytest.MonkeyPatch, overrides: dict
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
        }
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
    )
    yield node
    if not loop.is_closed():  # the test failed before disposing
        asyncio.run_coroutine_threadsafe(node.stop_async(), loop).result(timeout=10)
        node.dispose()


@contextmanager
def _running(node: TradingNode, binance: FakeBinance) -> Iterator[threading.Thread]:
    """Run `node` in a thread until its kline subscription is live; stop and dispose after."""
    runner = threading.Thread(target=node.run, name="trading-node", daemon=True)
    runner.start()
    wait_for(lambda: binance.hub.listening(KLINES) > 0, 20, "the kline subscription")
    yield runner
    asyncio.run_coroutine_threadsafe(node.stop_async(), node.get_event_loop()).result(timeout=15)
    runner.join(timeout=10)
    node.dispose()


def _push_closed_klines(binance: FakeBinance, closes: list[float]) -> None:
    """Closed 1-minute klines ending a minute ago, then the current minute still open."""
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    for n, close in enumerate(closes):
        binance.push_kline(
            "BTCUSDT", minute - timedelta(minutes=len(closes) - n), kline_around(close)
        )
    binance.push_kline("BTCUSDT", minute, kline_around(close + 1_000.0), closed=False)


def _components(node: TradingNode) -> tuple[RouterActor, list[RoutedStrategy]]:
    actor = next(a for a in node.trader.actors() if isinstance(a, RouterActor))
    return actor, [s for s in node.trader.strategies() if isinstance(s, RoutedStrategy)]


@pytest.mark.slow
def test_node_loads_the_instrument_streams_bars_to_every_component_and_stops(
    binance: FakeBinance, node: TradingNode
) -> None:
    # Arrange
    actor, strategies = _components(node)
    bar_type = actor.config.bar_type

    # Act
    with _running(node, binance) as runner:
        _push_closed_klines(binance, [42_000.0, 42_001.0, 42_002.0])
        wait_for(lambda: len(actor.equity) >= 3, 10, "three bars at the router actor")
        time.sleep(0.3)  # room for a wrongly accepted unclosed kline to arrive

    # Assert
    assert str(bar_type) == "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"
    assert node.cache.instrument(bar_type.instrument_id) is not None
    assert len(strategies) == 11
    bars = node.cache.bars(bar_type)
    assert [bar.close.as_double() for bar in reversed(bars)] == [42_000.0, 42_001.0, 42_002.0]
    assert len(actor.equity) == 3
    assert len(actor.decisions) == 2  # window 2: on the first bar and the third
    assert all(s.failure is None for s in strategies), [s.failure for s in strategies]
    windows = {s.name: len(s.window) for s in strategies}
    assert windows == {s.name: min(3, s.config.warmup_bars) for s in strategies}
    assert not runner.is_alive()
    assert node.get_event_loop().is_closed()


@pytest.mark.slow
def test_warm_strategies_orders_fill_at_the_fake_and_net_to_its_position(
    binance: FakeBinance, node: TradingNode
) -> None:
    # Arrange: with uniform weights only the one-bar strategies are warm after two bars.
    actor, strategies = _components(node)
    by_name = {s.name: s for s in strategies}

    def held(name: str) -> float:
        positions = node.cache.positions_open(strategy_id=by_name[name].id)
        return sum(p.signed_qty for p in positions)

    # Act
    with _running(node, binance):
        _push_closed_klines(binance, [42_000.0, 42_010.0])
        wait_for(lambda: held("LongOnly") > 0 and held("ShortOnly") < 0, 10, "both fills")
        venue = binance.hub.call(lambda: binance.futures.book.position("BTCUSDT").qty)

    # Assert
    assert held("LongOnly") == pytest.approx(-held("ShortOnly"))
    assert venue == pytest.approx(sum(held(name) for name in by_name))
    submits = [r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"]
    assert [r.status for r in submits] == [200, 200]
    assert all(held(name) == 0 for name in by_name if name not in ("LongOnly", "ShortOnly"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {
            "router.policy": "fixed",
            "router.weights": {"LongOnly": 0.5, "Cash": 0.5},
            "risk.max_drawdown": 0.1,
        }
    ],
)
def test_kill_switch_flattens_at_the_fake_and_refuses_new_orders(
    binance: FakeBinance, node: TradingNode
) -> None:
    # Arrange: half the capital long through LongOnly, so a 29% crash costs about 15%.
    _, strategies = _components(node)
    long_only = next(s for s in strategies if s.name == "LongOnly")
    guard = next(a for a in node.trader.actors() if isinstance(a, RiskGuard))

    def venue_qty() -> float:
        return binance.hub.call(lambda: binance.futures.book.position("BTCUSDT").qty)

    def submits() -> int:
        return len([r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"])

    # Act
    with _running(node, binance):
        _push_closed_klines(binance, [42_000.0, 42_010.0])
        wait_for(lambda: venue_qty() > 0, 10, "the long fill")
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        binance.push_kline("BTCUSDT", minute, kline_around(30_000.0))  # a 29% crash closes
        wait_for(lambda: guard.halted and venue_qty() == 0, 10, "the flatten")
        after_flatten = submits()
        binance.push_kline("BTCUSDT", minute + timedelta(minutes=1), kline_around(42_000.0))
        time.sleep(1.0)  # room for a strategy to try again

    # Assert
    assert venue_qty() == 0
    assert not node.cache.positions_open(strategy_id=long_only.id)
    assert submits() == after_flatten == 2  # the buy and the flattening sell, nothing after
