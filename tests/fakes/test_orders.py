"""The venue-neutral order book behind the fake venues, and the fault plan's order rules."""

import pytest

from tests.fakes.faults import FaultPlan, OrderReject, PartialFill, WsDrop
from tests.fakes.orders import BUY, LIMIT, SELL, OrderBook, OrderEvent, OrderRefused


@pytest.fixture
def book() -> OrderBook:
    book = OrderBook(FaultPlan(), cash=1_000.0, clock=lambda: 1_700_000_000_000)
    book.prices |= {"AAA": 10.0, "BBB": 50.0}
    return book


def _events(book: OrderBook) -> list[OrderEvent]:
    events: list[OrderEvent] = []
    book.listeners.append(events.append)
    return events


def test_market_order_fills_at_the_price_and_moves_cash_and_position(book: OrderBook) -> None:
    events = _events(book)

    order = book.submit("AAA", BUY, 5)

    assert (order.status, order.filled_qty, order.avg_price) == ("filled", 5, 10.0)
    assert [e.kind for e in events] == ["new", "fill"]
    assert events[0].order.status == "new"  # a snapshot, not the live order
    assert book.cash == 950.0
    assert (book.position("AAA").qty, book.position("AAA").avg_price) == (5, 10.0)


def test_positions_average_in_reduce_and_flip(book: OrderBook) -> None:
    book.submit("AAA", BUY, 2)
    book.set_price("AAA", 13.0)
    book.submit("AAA", BUY, 1)
    averaged = book.position("AAA")
    book.submit("AAA", SELL, 1)
    reduced = book.position("AAA")
    book.submit("AAA", SELL, 4)

    assert (averaged.qty, averaged.avg_price) == (3, 11.0)
    assert (reduced.qty, reduced.avg_price) == (2, 11.0)
    assert (book.position("AAA").qty, book.position("AAA").avg_price) == (-2, 13.0)
    assert book.cash == pytest.approx(1_000 - 20 - 13 + 13 + 52)


def test_limit_order_rests_until_crossed_and_fills_at_its_limit(book: OrderBook) -> None:
    order = book.submit("AAA", BUY, 1, LIMIT, 9.5)
    book.set_price("AAA", 9.8)
    resting = order.status
    book.set_price("AAA", 9.0)

    assert resting == "new"
    assert (order.status, order.avg_price) == ("filled", 9.5)
    assert book.open_orders() == []


def test_sell_limit_below_the_price_fills_at_once_at_the_better_price(book: OrderBook) -> None:
    order = book.submit("AAA", SELL, 1, LIMIT, 9.0)

    assert (order.status, order.avg_price) == ("filled", 10.0)


def test_partial_fill_then_the_rest_on_the_next_price(book: OrderBook) -> None:
    book.faults.partial_fills.append(PartialFill(fraction=0.4, symbol="AAA"))
    events = _events(book)

    order = book.submit("AAA", BUY, 10)
    partial = (order.status, order.filled_qty)
    book.set_price("AAA", 11.0)

    assert partial == ("partially_filled", 4)
    assert [(e.kind, e.qty, e.price) for e in events[1:]] == [
        ("partial_fill", 4, 10.0),
        ("fill", 6, 11.0),
    ]
    assert book.position("AAA").avg_price == pytest.approx(10.6)


def test_cancel_and_cancel_all(book: OrderBook) -> None:
    first = book.submit("AAA", BUY, 1, LIMIT, 5.0)
    second = book.submit("BBB", BUY, 1, LIMIT, 5.0)
    third = book.submit("BBB", BUY, 1, LIMIT, 5.0)

    book.cancel(str(first.number))
    canceled = book.cancel_all("BBB")

    assert [o.id for o in canceled] == [second.id, third.id]
    assert all(o.status == "canceled" for o in (first, second, third))
    with pytest.raises(ValueError, match="canceled"):
        book.cancel(first.id)
    with pytest.raises(KeyError):
        book.cancel("nope")


def test_reject_rules_count_per_symbol(book: OrderBook) -> None:
    book.faults.rejects.append(OrderReject(symbol="BBB", nth=2, code=-2010, reason="no"))

    book.submit("AAA", BUY, 1)
    book.submit("BBB", BUY, 1)
    with pytest.raises(OrderRefused) as refused:
        book.submit("BBB", BUY, 1)
    book.submit("BBB", BUY, 1)

    assert (refused.value.code, refused.value.reason) == (-2010, "no")
    assert len(book.orders) == 3


def test_reject_after_accept_reports_new_then_rejected(book: OrderBook) -> None:
    book.faults.rejects.append(OrderReject(after_accept=True, reason="halted"))
    events = _events(book)

    order = book.submit("AAA", BUY, 1)

    assert [e.kind for e in events] == ["new", "rejected"]
    assert (order.status, order.reason) == ("rejected", "halted")
    assert book.position("AAA").qty == 0 and book.cash == 1_000.0


def test_buying_more_than_the_cash_is_refused(book: OrderBook) -> None:
    with pytest.raises(OrderRefused) as refused:
        book.submit("BBB", BUY, 21)

    assert refused.value.code == -2010
    assert book.orders == {}


def test_ws_drop_rules_match_by_path_and_count_connections() -> None:
    plan = FaultPlan(ws_drops=[WsDrop(after=3, path="/ws", nth=2)])

    seen = [plan.ws_drop("/ws"), plan.ws_drop("/other"), plan.ws_drop("/ws"), plan.ws_drop("/ws")]

    assert seen == [None, None, WsDrop(after=3, path="/ws", nth=2), None]
