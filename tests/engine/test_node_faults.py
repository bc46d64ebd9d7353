"""Faults at the fake Binance USDT-M futures API and what the live node does about each: a
websocket drop reconnects, resubscribes and re-queries the orders; 429/418 stop new orders for
the wait and are not re-triggered; a 5xx or lost answer on submit leaves the outcome unknown
until the venue says, with no second order meanwhile; partial fills and rejects leave each
strategy's position equal to the venue's; a fill reported late (after the in-flight check booked
it) or twice is booked once. (-1021 at pre-flight: tests/app/test_cli_live.py.)

One strategy trades (LongOnly at half the capital), so every order at the fake is its own."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import GenerateOrderStatusReport
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.enums import LiquiditySide, OrderStatus
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.objects import Money, Price, Quantity

from adapters.binance.execution import BREAKER_REASON
from bot.engine.journal import Journal
from strategies.base import RoutedStrategy
from tests.fakes.binance import FakeBinance
from tests.fakes.binance_trading import num
from tests.fakes.faults import (
    DelayedFill,
    DuplicatedFill,
    FaultPlan,
    HttpFault,
    LostResponse,
    OrderReject,
    PartialFill,
    WsDrop,
)
from tests.fakes.waiting import kline_around, wait_for
from tests.support.binance_node import (
    KLINES,
    LONG_ONLY,
    ORDER,
    components,
    held,
    push_closed_klines,
    running,
    submits,
    venue_qty,
)

pytestmark = pytest.mark.integration

# In-flight orders are queried a second after their last event, from a second after start.
QUICK_INFLIGHT = {
    "risk.inflight_threshold_s": 1.0,
    "risk.inflight_interval_s": 0.5,
    "risk.reconcile_delay_s": 1.0,
}


def _strategies(node: TradingNode) -> tuple[RoutedStrategy, list[RoutedStrategy]]:
    """LongOnly, and all the routed strategies (read them before the node is disposed)."""
    strategies = components(node)[1]
    return next(s for s in strategies if s.name == "LongOnly"), strategies


def _orders(node: TradingNode, strategy: RoutedStrategy, status: OrderStatus) -> list:
    return [o for o in node.cache.orders(strategy_id=strategy.id) if o.status == status]


def _queries(binance: FakeBinance, order) -> list:
    """Order-status queries the fake received for `order` (by venue or client order id)."""
    ids = {str(order.client_order_id), str(order.venue_order_id)}
    return [
        r
        for r in binance.requests_to(ORDER)
        if r.method == "GET" and {r.query.get("orderId"), r.query.get("origClientOrderId")} & ids
    ]


class _Bars:
    """Closed klines for the minutes after the ones `push_closed_klines` sent."""

    def __init__(self, binance: FakeBinance) -> None:
        self.binance = binance
        self.minute = datetime.now(UTC).replace(second=0, microsecond=0)

    def push(self, close: float = 42_010.0) -> None:
        self.binance.push_kline("BTCUSDT", self.minute, kline_around(close))
        self.minute += timedelta(minutes=1)


def _assert_positions_agree(
    node: TradingNode, binance: FakeBinance, strategies: list[RoutedStrategy]
) -> None:
    assert sum(held(node, s) for s in strategies) == pytest.approx(venue_qty(binance))
    assert all(s.failure is None for s in strategies), [s.failure for s in strategies]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [LONG_ONLY])
@pytest.mark.parametrize(
    "faults", [FaultPlan(ws_drops=[WsDrop(path="/stream", nth=1, times=2, after=1)])]
)
def test_websocket_drops_reconnect_resubscribe_and_requery_the_orders(
    binance: FakeBinance, node: TradingNode
) -> None:
    # Arrange: both first connections (klines, user data) die without a close frame after
    # their first message: the kline that makes LongOnly buy, and the order's NEW event, so
    # the fill is lost with the user stream. The order is then ACCEPTED, not in flight:
    # nautilus' in-flight check never asks about it, and no open-order check runs.
    long_only, strategies = _strategies(node)

    # Act
    with running(node, binance):
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        binance.push_kline("BTCUSDT", minute - timedelta(minutes=1), kline_around(42_000.0))
        wait_for(lambda: binance.hub.dropped == 2, 10, "both drops")
        wait_for(lambda: binance.hub.listening(KLINES) == 1, 20, "the kline resubscription")
        wait_for(lambda: held(node, long_only) > 0, 20, "the fill, learnt by re-query")
        order = node.cache.orders(strategy_id=long_only.id)[0]
        binance.push_kline("BTCUSDT", minute, kline_around(42_010.0))
        wait_for(lambda: long_only.window.count == 2, 10, "a bar on the new kline stream")

    # Assert
    assert order.status == OrderStatus.FILLED
    assert [q.status for q in _queries(binance, order)] == [200]  # asked after the reconnect
    assert len(submits(binance)) == 1
    assert held(node, long_only) > 0
    _assert_positions_agree(node, binance, strategies)


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides", [LONG_ONLY | {"risk.backoff_initial_s": 2.0, "risk.ban_default_s": 2.0}]
)
@pytest.mark.parametrize("status", [429, 418])
def test_throttling_stops_new_orders_for_the_wait_without_triggering_it_again(
    binance: FakeBinance, faults: FaultPlan, node: TradingNode, status: int
) -> None:
    # Arrange: the first submit is throttled. Nautilus 1.221's HTTP client drops response
    # headers, so the breaker's wait is the [risk] backoff (2 s here), not the Retry-After.
    faults.http.append(HttpFault(status, path=ORDER, retry_after=2))
    long_only, strategies = _strategies(node)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        wait_for(lambda: len(submits(binance)) == 1, 10, "the throttled submit")
        bars = _Bars(binance)
        while time.monotonic() < submits(binance)[0].at + 3.0:
            time.sleep(0.4)
            bars.push()  # LongOnly, still flat, tries again on every bar
        wait_for(lambda: held(node, long_only) > 0, 10, "the fill once the wait is over")

    # Assert
    first, second = submits(binance)
    assert (first.status, second.status) == (status, 200)
    assert second.at - first.at >= 2.0
    assert [r.status for r in binance.requests].count(status) == 1  # the wait held: no new ban
    denied = _orders(node, long_only, OrderStatus.DENIED)
    assert denied and all(BREAKER_REASON in o.last_event.reason for o in denied)
    assert len(_orders(node, long_only, OrderStatus.REJECTED)) == 1
    assert held(node, long_only) == pytest.approx(venue_qty(binance))
    _assert_positions_agree(node, binance, strategies)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [LONG_ONLY | QUICK_INFLIGHT])
def test_5xx_on_submit_stays_unknown_until_the_venue_says_and_nothing_is_resubmitted(
    binance: FakeBinance, faults: FaultPlan, node: TradingNode
) -> None:
    # Arrange: the submit gets a 500 before the venue takes the order.
    faults.http.append(HttpFault(500, path=ORDER))
    long_only, strategies = _strategies(node)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        wait_for(lambda: len(submits(binance)) == 1, 10, "the failed submit")
        bars = _Bars(binance)
        bars.push()  # a bar while the outcome is unknown: LongOnly must not order again
        time.sleep(0.3)
        order = node.cache.orders(strategy_id=long_only.id)[0]
        status_while_unknown = order.status
        wait_for(lambda: order.status == OrderStatus.REJECTED, 20, "the venue's answer")
        before_retry = len(submits(binance))
        bars.push()  # flat and resolved: LongOnly may try again
        wait_for(lambda: held(node, long_only) > 0, 10, "the second order's fill")

    # Assert
    assert status_while_unknown == OrderStatus.SUBMITTED
    assert before_retry == 1
    assert [r.status for r in submits(binance)] == [500, 200]
    queries = _queries(binance, order)
    assert len(queries) >= 3 and all(q.status == 400 for q in queries)  # "does not exist"
    assert queries[-1].at < submits(binance)[1].at
    assert "-2013" in order.last_event.reason
    _assert_positions_agree(node, binance, strategies)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [LONG_ONLY])
@pytest.mark.parametrize(
    "faults",
    [
        # Taken and filled, but the answer is a 503; the fill events are lost with the stream.
        FaultPlan(
            lost_responses=[LostResponse(delay_s=0.5, status=503)],
            ws_drops=[WsDrop(path="/stream", nth=1, after=1)],  # the user stream
        ),
        # Taken and filled, but the line is cut before any answer.
        FaultPlan(lost_responses=[LostResponse()]),
    ],
    ids=["5xx-after-accept", "no-answer"],
)
def test_lost_answer_to_an_accepted_order_is_reconciled_not_resubmitted(
    binance: FakeBinance, node: TradingNode
) -> None:
    long_only, strategies = _strategies(node)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        wait_for(lambda: held(node, long_only) > 0, 20, "the fill")
        time.sleep(1.0)  # room for a late error to undo it
        _Bars(binance).push()
        time.sleep(0.5)
        order = node.cache.orders(strategy_id=long_only.id)[0]

    # Assert
    assert order.status == OrderStatus.FILLED
    assert len(submits(binance)) == 1
    assert held(node, long_only) == pytest.approx(venue_qty(binance))
    _assert_positions_agree(node, binance, strategies)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [LONG_ONLY])
@pytest.mark.parametrize("faults", [FaultPlan(partial_fills=[PartialFill(fraction=0.5)])])
def test_partial_fill_gives_the_right_position_then_the_rest_fills(
    binance: FakeBinance, node: TradingNode
) -> None:
    # Arrange: at 40,000 LongOnly buys 1.25 BTC, so half of it (0.625) is on the lot step.
    long_only, strategies = _strategies(node)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [40_000.0])
        wait_for(lambda: held(node, long_only) > 0, 10, "the partial fill")
        order = node.cache.orders(strategy_id=long_only.id)[0]
        partial = (order.status, held(node, long_only), venue_qty(binance))
        _Bars(binance).push(40_000.0)  # the next price fills the rest
        wait_for(lambda: order.status == OrderStatus.FILLED, 10, "the rest of the fill")

    # Assert
    quantity = order.quantity.as_double()
    assert quantity == 1.25
    assert partial[0] == OrderStatus.PARTIALLY_FILLED
    assert partial[1] == pytest.approx(partial[2]) == pytest.approx(quantity / 2)
    assert held(node, long_only) == pytest.approx(quantity)
    assert len(submits(binance)) == 1  # the open rest counted as pending: no top-up order
    _assert_positions_agree(node, binance, strategies)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [LONG_ONLY])
@pytest.mark.parametrize("faults", [FaultPlan(rejects=[OrderReject(code=-2010)])])
def test_rejected_order_leaves_the_strategy_flat_and_it_retries_on_a_later_bar(
    binance: FakeBinance, node: TradingNode
) -> None:
    long_only, strategies = _strategies(node)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        wait_for(lambda: _orders(node, long_only, OrderStatus.REJECTED), 10, "the reject")
        time.sleep(0.5)  # room for a wrong retry within the same bar
        after_reject = (len(submits(binance)), held(node, long_only), venue_qty(binance))
        _Bars(binance).push()
        wait_for(lambda: held(node, long_only) > 0, 10, "the retry's fill")

    # Assert
    assert after_reject == (1, 0, 0)
    assert [r.status for r in submits(binance)] == [400, 200]
    (rejected,) = _orders(node, long_only, OrderStatus.REJECTED)
    assert "-2010" in rejected.last_event.reason
    assert long_only.target == 1.0 and not long_only._orders
    assert held(node, long_only) == pytest.approx(venue_qty(binance))
    _assert_positions_agree(node, binance, strategies)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [LONG_ONLY | QUICK_INFLIGHT])
@pytest.mark.parametrize(
    "faults",
    [
        # Later than the in-flight check, which books the fill from the order's status first.
        FaultPlan(delayed_fills=[DelayedFill(delay_s=3.0)]),
        FaultPlan(duplicated_fills=[DuplicatedFill()]),
    ],
    ids=["late", "twice"],
)
def test_a_fill_reported_late_or_twice_is_booked_once(
    binance: FakeBinance, node: TradingNode, journal_path: Path
) -> None:
    long_only, strategies = _strategies(node)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        wait_for(lambda: held(node, long_only) > 0, 10, "the fill")
        order = node.cache.orders(strategy_id=long_only.id)[0]
        wait_for(lambda: binance.hub.delayed + binance.hub.duplicated == 1, 5, "the fault")
        time.sleep(4.0)  # the late or repeated report arrives and is handled meanwhile
        position = (held(node, long_only), venue_qty(binance))

    # Assert: one fill in the order, the position and the journal.
    with Journal(journal_path) as journal:
        fills = journal.fills(journal.latest_run().run_id)
    quantity = order.quantity.as_double()
    assert order.status == OrderStatus.FILLED and len(order.trade_ids) == 1
    assert position[0] == pytest.approx(position[1]) == pytest.approx(quantity)
    assert fills["qty"].tolist() == [pytest.approx(quantity)]
    assert len(submits(binance)) == 1
    _assert_positions_agree(node, binance, strategies)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [LONG_ONLY])
@pytest.mark.parametrize("faults", [FaultPlan(delayed_fills=[DelayedFill(delay_s=60.0)])])
def test_a_report_handed_over_while_the_streams_fill_waits_in_the_engine_is_booked_once(
    binance: FakeBinance, node: TradingNode, journal_path: Path
) -> None:
    # Arrange: the order fills at the venue; the stream's own report of it is held back.
    long_only, strategies = _strategies(node)
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        wait_for(lambda: _orders(node, long_only, OrderStatus.ACCEPTED), 10, "the order")
        (order,) = _orders(node, long_only, OrderStatus.ACCEPTED)
        wait_for(lambda: binance.futures.trades, 5, "the fill at the venue")
        (trade,) = binance.hub.call(lambda: list(binance.futures.trades))

        # Act: as in the chaos soak (seed 2040177369): in one turn of the node's loop the stream's
        # fill is handed to the engine (which queues events) and then a re-query's report of the
        # same fill (which the engine reconciles at once, ahead of its queue).
        handed = asyncio.run_coroutine_threadsafe(
            _stream_fill_then_report(node, order, trade), node.get_event_loop()
        )
        handed.result(timeout=10)
        wait_for(lambda: order.status == OrderStatus.FILLED, 5, "the fill in the engine")
        time.sleep(1.0)  # whatever the engine still had queued is applied
        position = (held(node, long_only), venue_qty(binance))

    # Assert: the order, the strategy's position and the journal hold the trade once.
    with Journal(journal_path) as journal:
        fills = journal.fills(journal.latest_run().run_id)
    assert [t.value for t in order.trade_ids] == [str(trade.trade_id)]
    assert position[0] == pytest.approx(position[1]) == pytest.approx(trade.qty)
    assert fills["qty"].tolist() == [pytest.approx(trade.qty)]
    _assert_positions_agree(node, binance, strategies)


async def _stream_fill_then_report(node: TradingNode, order, trade) -> None:
    (client,) = node.kernel.exec_engine._clients.values()
    report = await client.generate_order_status_report(
        GenerateOrderStatusReport(
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            command_id=UUID4(),
            ts_init=client._clock.timestamp_ns(),
        )
    )
    usdt = Currency.from_str("USDT")
    client.generate_order_filled(  # as the futures user stream calls it: every argument by name
        strategy_id=order.strategy_id,
        instrument_id=order.instrument_id,
        client_order_id=order.client_order_id,
        venue_order_id=order.venue_order_id,
        venue_position_id=None,
        trade_id=TradeId(str(trade.trade_id)),
        order_side=order.side,
        order_type=order.order_type,
        last_qty=Quantity.from_str(num(trade.qty)),
        last_px=Price.from_str(f"{trade.price:.2f}"),
        quote_currency=usdt,
        commission=Money(0, usdt),
        liquidity_side=LiquiditySide.TAKER,
        ts_event=client._clock.timestamp_ns(),
    )
    client._send_order_status_report(report)  # how the re-query after a reconnect hands it over
