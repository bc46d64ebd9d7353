"""The live TradingNode from `bot.engine.node` against the fake Alpaca: the instrument loads from
`/v2/assets`, every component warms up from history bars (`request_bars`), streamed msgpack bars
reach the router actor and the strategies, the warm strategies' orders fill at the fake and net
to its position, partial fills and rejects become the right order events, a dropped
`trade_updates` stream reconnects and re-queries the orders it missed, a 429 on a submit is
logged with Alpaca's words and counted while alpaca-py's own retry gets the order through (a
reconnect meanwhile does not take it for lost), an account state Alpaca failed after a fill is
asked for again, equity orders wait for the market to open, and crypto trades long only."""

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alpaca.trading.models import TradeUpdate
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.events import OrderDenied, OrderFilled, OrderRejected
from nautilus_trader.model.instruments import CurrencyPair, Equity

from adapters.alpaca.constants import ALPACA_VENUE
from bot.app.monitoring import NodeMetrics
from bot.core.settings_loader import load_settings
from bot.engine.node import build_trading_node
from bot.engine.risk import RiskGuard
from bot.engine.router import RouterActor
from bot.model.policy import load_policy
from strategies.base import RoutedStrategy
from tests.conftest import RedisServer
from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.alpaca_streams import CRYPTO_FEED, STOCK_FEED, TRADING_STREAM, feed_channel
from tests.fakes.alpaca_trading import TRADE_UPDATES
from tests.fakes.faults import FaultPlan, HttpFault, OrderReject, PartialFill, WsDrop
from tests.fakes.waiting import wait_for
from tests.support.alpaca_node import (
    KEY,
    SECRET,
    alpaca_env,
    push_bars,
    serve_alpaca,
    submitted_orders,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def market_open() -> bool:
    return True


@pytest.fixture
def alpaca(faults: FaultPlan, market_open: bool) -> Iterator[FakeAlpaca]:
    with serve_alpaca(faults, market_open) as served:
        yield served


@pytest.fixture
def symbol() -> str:
    return "AAPL"


@pytest.fixture
def node(
    alpaca: FakeAlpaca,
    symbol: str,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    tmp_path: Path,
) -> Iterator[TradingNode]:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    for name, value in alpaca_env(alpaca).items():
        monkeypatch.setenv(name, value)
    loaded = load_settings(
        cli={
            "router.policy": "uniform",
            "router.window": 2,
            "logging.level": "WARNING",
            "logging.directory": str(tmp_path / "logs"),
            "journal.path": str(tmp_path / "journal.sqlite"),
        }
        | redis_server.settings()
    )
    loop = asyncio.new_event_loop()  # built in the main thread, run in another
    node = build_trading_node(
        loaded.settings,
        loaded.secrets,
        venue="alpaca",
        symbol=symbol,
        bar="1m",
        loop=loop,
        timeout_post_stop=0.5,
        load_policy=load_policy,
    )
    yield node
    if not loop.is_closed():  # the test failed before disposing
        asyncio.run_coroutine_threadsafe(node.stop_async(), loop).result(timeout=10)
        node.dispose()


def _components(node: TradingNode) -> tuple[RouterActor, list[RoutedStrategy]]:
    actor = next(a for a in node.trader.actors() if isinstance(a, RouterActor))
    return actor, [s for s in node.trader.strategies() if isinstance(s, RoutedStrategy)]


@contextmanager
def _running(node: TradingNode, alpaca: FakeAlpaca, symbol: str) -> Iterator[threading.Thread]:
    """Run `node` in a thread until it is subscribed and warm; stop and dispose after."""
    feed = CRYPTO_FEED if "/" in symbol else STOCK_FEED
    runner = threading.Thread(target=node.run, name="trading-node", daemon=True)
    runner.start()
    _, strategies = _components(node)
    wait_for(lambda: alpaca.hub.listening(feed_channel(feed, "bars", symbol)) == 1, 30, "bars")
    wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 1, 10, "the trade_updates stream")
    wait_for(lambda: all(s.is_warm for s in strategies), 30, "the warm-up history")
    yield runner
    asyncio.run_coroutine_threadsafe(node.stop_async(), node.get_event_loop()).result(timeout=15)
    runner.join(timeout=10)
    node.dispose()


def _held(node: TradingNode, strategy: RoutedStrategy) -> float:
    return sum(p.signed_qty for p in node.cache.positions_open(strategy_id=strategy.id))


def _venue_qty(alpaca: FakeAlpaca, symbol: str) -> float:
    return alpaca.hub.call(lambda: alpaca.book.position(symbol).qty)


def _nets_to_venue(node: TradingNode, alpaca: FakeAlpaca, symbol: str) -> bool:
    _, strategies = _components(node)
    ours = sum(_held(node, s) for s in strategies)
    return ours != 0 and abs(ours - _venue_qty(alpaca, symbol)) < 1e-9


def _half_filled(node: TradingNode) -> list:
    return [o for o in node.cache.orders_open() if o.status == OrderStatus.PARTIALLY_FILLED]


def _events(node: TradingNode, kind: type) -> list:
    return [event for order in node.cache.orders() for event in order.events if type(event) is kind]


@pytest.mark.slow
def test_equity_node_warms_up_streams_bars_trades_and_nets_to_the_fake(
    alpaca: FakeAlpaca, node: TradingNode
) -> None:
    # Arrange
    actor, strategies = _components(node)
    bar_type = actor.config.bar_type

    # Act
    with _running(node, alpaca, "AAPL") as runner:
        windows = {s.name: len(s.window) for s in strategies}
        push_bars(alpaca, "AAPL", 3)
        wait_for(lambda: len(actor.recorder.decisions) >= 2, 15, "two router decisions")
        wait_for(lambda: _nets_to_venue(node, alpaca, "AAPL"), 15, "fills netting to the venue")

    # Assert
    assert str(bar_type) == "AAPL.ALPACA-1-MINUTE-LAST-EXTERNAL"
    assert isinstance(node.cache.instrument(bar_type.instrument_id), Equity)
    # from history alone: the strategies' shared window holds the deepest warm-up
    assert windows == dict.fromkeys(windows, max(s.config.warmup_bars for s in strategies))
    # one request for the router, one for the eleven strategies (they share their indicators)
    assert len(alpaca.requests_to("/v2/stocks/bars")) == 2
    streamed = [
        b for b in node.cache.bars(bar_type) if b.ts_event > alpaca.history.end.timestamp() * 1e9
    ]
    assert len(streamed) == 3
    assert all(s.failure is None for s in strategies), [s.failure for s in strategies]
    fills = _events(node, OrderFilled)
    assert fills and {f.trade_id.value for f in fills} <= {
        row["id"].split("::")[1] for row in alpaca.trading.fills
    }
    short = [s.name for s in strategies if _held(node, s) < 0]
    assert "ShortOnly" in short  # AAPL is shortable and easy to borrow at the fake
    assert not runner.is_alive() and node.get_event_loop().is_closed()


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults",
    [
        FaultPlan(
            partial_fills=[PartialFill(fraction=0.5, symbol="AAPL")],
            rejects=[OrderReject(nth=2, symbol="AAPL", reason="insufficient buying power")],
        )
    ],
)
def test_partial_fills_and_rejects_become_order_events(
    alpaca: FakeAlpaca, node: TradingNode
) -> None:
    # Act
    with _running(node, alpaca, "AAPL"):
        push_bars(alpaca, "AAPL", 1)
        wait_for(lambda: _events(node, OrderRejected), 15, "the rejected order")
        # An order still only accepted is open too: wait for the one the venue filled half of.
        wait_for(lambda: _half_filled(node), 15, "the partially filled order")
        [partial] = _half_filled(node)
        alpaca.set_price("AAPL", alpaca.book.prices["AAPL"] + 0.01)  # the rest fills
        wait_for(lambda: partial.status == OrderStatus.FILLED, 15, "the rest of the fill")

    # Assert
    assert [type(e).__name__ for e in partial.events][-2:] == ["OrderFilled", "OrderFilled"]
    assert sum(e.last_qty for e in partial.events if isinstance(e, OrderFilled)) == partial.quantity
    [rejected] = _events(node, OrderRejected)
    assert "HTTP 403" in rejected.reason and "insufficient buying power" in rejected.reason
    assert node.cache.order(rejected.client_order_id).status == OrderStatus.REJECTED


@pytest.mark.slow
@pytest.mark.parametrize("faults", [FaultPlan(ws_drops=[WsDrop(after=1, path=TRADING_STREAM)])])
def test_a_dropped_trade_stream_reconnects_and_requeries_the_orders_it_missed(
    alpaca: FakeAlpaca, node: TradingNode
) -> None:
    # Act: the first order's `new` goes out, then the connection dies and its fill is lost.
    with _running(node, alpaca, "AAPL"):
        push_bars(alpaca, "AAPL", 1)
        wait_for(lambda: alpaca.hub.dropped == 1, 15, "the dropped trade stream")
        wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 1, 15, "the reconnection")
        wait_for(lambda: _nets_to_venue(node, alpaca, "AAPL"), 15, "the re-queried fills")
        wait_for(lambda: not node.cache.orders_open(), 15, "every order settled")

    # Assert
    submits = [r.at for r in alpaca.requests_to("/v2/orders") if r.method == "POST"]
    requeries = alpaca.requests_to("/v2/orders:by_client_order_id")
    assert requeries and all(r.status == 200 and r.at > min(submits) for r in requeries)
    assert all(o.status == OrderStatus.FILLED for o in node.cache.orders())


@pytest.mark.slow
def test_a_429_on_submit_is_logged_with_alpacas_words_counted_and_retried_through(
    alpaca: FakeAlpaca,
    faults: FaultPlan,
    node: TradingNode,
) -> None:
    # Arrange: once warm, the next two requests to /v2/orders (the first submit and alpaca-py's
    # first retry of it, 3 s apart) are throttled; its second retry goes through.
    guard = next(a for a in node.trader.actors() if isinstance(a, RiskGuard))
    router, _ = _components(node)

    # Act
    with _running(node, alpaca, "AAPL"):
        faults.http.append(HttpFault(429, path="/v2/orders", times=2))
        # One bar a second until the strategies order: a bar can land before the node is
        # subscribed on a loaded machine, and then no decision follows it.
        for n in range(20):
            if submitted_orders(alpaca):
                break
            push_bars(alpaca, "AAPL", 1, first=n)
            time.sleep(1.0)
        wait_for(lambda: _nets_to_venue(node, alpaca, "AAPL"), 30, "fills after the retries")
        wait_for(lambda: sum(guard.throttled.values()) >= 2, 5, "the counted 429s")
        throttled = dict(guard.throttled)
        words = dict(guard.throttle_words)
        family = next(
            f for f in NodeMetrics(router, guard).collect() if f.name == "bot_rate_limited"
        )
        counted = {tuple(s.labels.values()): s.value for s in family.samples}  # *_total

    # Assert
    statuses = [r.status for r in submitted_orders(alpaca)]
    assert statuses[:3] == [429, 429, 200]  # the same order, retried by alpaca-py itself
    assert throttled == {("ALPACA", 429): 2}
    assert counted == {("ALPACA", "429"): 2.0}
    assert _events(node, OrderFilled) and not _events(node, OrderRejected)
    # Alpaca's own words, as the hook logged them (nautilus' Rust logger is set up once per
    # process, so a test cannot rely on reading the log itself).
    assert "rate limit exceeded" in words[("ALPACA", 429)]


@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["BTC/USD"])
def test_a_reconnect_while_a_submit_is_retried_does_not_reject_the_order(
    alpaca: FakeAlpaca, faults: FaultPlan, node: TradingNode
) -> None:
    # Arrange: once warm, the first submit is throttled; alpaca-py retries it 3 s later.
    with _running(node, alpaca, "BTC/USD"):
        faults.http.append(HttpFault(429, path="/v2/orders"))
        push_bars(alpaca, "BTC/USD", 1)
        wait_for(lambda: 429 in [r.status for r in submitted_orders(alpaca)], 15, "the 429")

        # Act: meanwhile the trade stream drops, and its reconnect re-queries the open orders.
        alpaca.hub.call(_cut, alpaca.hub, TRADING_STREAM)
        wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 1, 15, "the reconnection")
        wait_for(lambda: submitted_orders(alpaca)[-1].status == 200, 10, "the retried submit")
        wait_for(lambda: not node.cache.orders_inflight(), 10, "every submit answered")
        time.sleep(1.0)  # the retried order's fill reaches the node
        nets = _nets_to_venue(node, alpaca, "BTC/USD")

    # Assert: the order the venue took is not rejected as lost, and its fill is booked.
    assert not _events(node, OrderRejected)
    assert nets


def _cut(hub, path: str) -> None:
    hub.cut(next(i for i, c in enumerate(hub.connections) if c.request.path == path))


@pytest.mark.slow
@pytest.mark.parametrize("market_open", [False])
def test_equity_orders_are_denied_while_the_market_is_closed(
    alpaca: FakeAlpaca, node: TradingNode
) -> None:
    # Act
    with _running(node, alpaca, "AAPL"):
        push_bars(alpaca, "AAPL", 1)
        wait_for(lambda: _events(node, OrderDenied), 15, "denied orders")

    # Assert
    assert all("market is closed" in e.reason for e in _events(node, OrderDenied))
    assert not [r for r in alpaca.requests_to("/v2/orders") if r.method == "POST"]
    assert alpaca.requests_to("/v2/clock")


@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["BTC/USD"])
def test_crypto_node_trades_fractional_sizes_long_only(
    alpaca: FakeAlpaca, node: TradingNode
) -> None:
    # Arrange
    _, strategies = _components(node)

    # Act
    with _running(node, alpaca, "BTC/USD"):
        push_bars(alpaca, "BTC/USD", 2)
        wait_for(lambda: _nets_to_venue(node, alpaca, "BTC/USD"), 15, "fills netting to the venue")

    # Assert
    instrument = node.cache.instrument(strategies[0].config.instrument_id)
    assert isinstance(instrument, CurrencyPair) and instrument.size_precision == 4
    assert all(s.config.long_only for s in strategies)
    assert all(_held(node, s) >= 0 for s in strategies)
    assert _venue_qty(alpaca, "BTC/USD") > 0
    assert not alpaca.requests_to("/v2/clock")  # crypto never waits for the equity market


@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["BTC/USD"])
def test_an_account_state_the_venue_failed_after_a_fill_is_asked_for_again(
    alpaca: FakeAlpaca, faults: FaultPlan, node: TradingNode
) -> None:
    # Arrange: once warm, Alpaca fails every account request while the strategies' orders fill.
    with _running(node, alpaca, "BTC/USD"):
        faults.http.append(HttpFault(500, path="/v2/account", times=None))
        push_bars(alpaca, "BTC/USD", 1)
        wait_for(lambda: _nets_to_venue(node, alpaca, "BTC/USD"), 15, "the fills")
        wait_for(lambda: alpaca.requests_to("/v2/account")[-1].status == 500, 5, "a failure")
        states = len(node.portfolio.account(ALPACA_VENUE).events)

        # Act: the venue answers again.
        alpaca.hub.call(faults.http.clear)
        account = node.portfolio.account(ALPACA_VENUE)
        wait_for(lambda: len(account.events) > states, 10, "the account state asked again")

    # Assert: a fill's realised PnL is not left out of the balance until the next fill.
    assert alpaca.requests_to("/v2/account")[-1].status == 200


@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["BTC/USD"])  # fractional sizes: a fill of any part
@pytest.mark.parametrize("faults", [FaultPlan(partial_fills=[PartialFill(fraction=0.5)])])
def test_fills_handed_over_before_the_engine_applies_the_first_are_booked_once(
    alpaca: FakeAlpaca, node: TradingNode
) -> None:
    # Arrange: an order half filled; the venue will report the rest in two executions.
    _, strategies = _components(node)
    with _running(node, alpaca, "BTC/USD"):
        push_bars(alpaca, "BTC/USD", 1)
        wait_for(lambda: _half_filled(node), 15, "the partially filled order")
        [partial] = _half_filled(node)

        # Act: both executions come in one turn of the node's loop, so the engine (which applies
        # fills from a queue) has not applied the first when the second is handed over.
        (client,) = node.kernel.exec_engine._clients.values()
        streamed = asyncio.run_coroutine_threadsafe(
            _two_executions(client, partial), node.get_event_loop()
        )
        streamed.result(timeout=10)
        wait_for(lambda: partial.status == OrderStatus.FILLED, 5, "the fills in the engine")
        time.sleep(0.5)  # whatever the engine still had queued is applied
        owner = next(s for s in strategies if s.id == partial.strategy_id)
        held = abs(_held(node, owner))

    # Assert: three fills adding up to the order, and a position of that size.
    fills = [e.last_qty for e in partial.events if isinstance(e, OrderFilled)]
    assert len(fills) == 3 and sum(fills) == partial.quantity
    assert held == pytest.approx(partial.quantity.as_double())


async def _two_executions(client, order) -> None:
    venue_order = await asyncio.to_thread(
        client._client.get_order_by_client_id, order.client_order_id.value
    )
    quantity = order.quantity.as_double()
    for event, filled in (("partial_fill", 0.75 * quantity), ("fill", quantity)):
        update = TradeUpdate(
            event=event,
            execution_id=uuid.uuid4(),
            order=venue_order.model_copy(update={"filled_qty": str(filled)}),
            timestamp=datetime.now(UTC),
            price=float(venue_order.filled_avg_price),
            qty=str(quantity / 4),
        )
        await client._on_trade_update(update)  # what the trade_updates stream calls
