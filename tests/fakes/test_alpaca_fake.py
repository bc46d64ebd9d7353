"""The fake Alpaca against the real alpaca-py clients: TradingClient over REST, TradingStream
for `trade_updates`, StockDataStream for msgpack bars, with injected faults."""

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.live import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from alpaca.trading.stream import TradingStream

from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.alpaca_streams import STOCK_FEED, TRADING_STREAM, feed_channel
from tests.fakes.alpaca_trading import TRADE_UPDATES
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
from tests.fakes.server import REDACTED, serve_in_thread
from tests.fakes.waiting import wait_for
from tests.support.series import SyntheticHistory

pytestmark = pytest.mark.integration

HISTORY = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
KEY, SECRET = "PKFAKE01", "alpaca-secret-xyz"
BAR_AT = datetime(2024, 1, 2, tzinfo=UTC)


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def alpaca(faults: FaultPlan) -> Iterator[FakeAlpaca]:
    with serve_in_thread(FakeAlpaca(HISTORY, faults, key_id=KEY, secret_key=SECRET)) as fake:
        yield fake


@pytest.fixture
def client(alpaca: FakeAlpaca) -> TradingClient:
    return TradingClient(KEY, SECRET, paper=True, url_override=alpaca.base_url)


def _trade_updates(alpaca: FakeAlpaca) -> tuple[TradingStream, list]:
    """alpaca-py's trade-update stream aimed at the fake, and the list it appends updates to."""
    updates = []

    async def on_update(update) -> None:
        updates.append(update)

    stream = TradingStream(KEY, SECRET, paper=True, url_override=alpaca.ws_url(TRADING_STREAM))
    stream.subscribe_trade_updates(on_update)
    return stream, updates


@contextmanager
def _running(stream, fake: FakeAlpaca) -> Iterator[None]:
    thread = threading.Thread(target=stream.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stream.stop()
        # The SDK notices a stop only between messages: a close frame wakes it at once.
        fake.hub.call(fake.hub.disconnect)
        thread.join(timeout=5)
    assert not thread.is_alive()


def _buy(symbol: str, qty: float) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force="day")


def test_market_order_fills_and_shows_in_account_and_positions(
    alpaca: FakeAlpaca, client: TradingClient
) -> None:
    price = alpaca.book.prices["AAPL"]

    order = client.submit_order(_buy("AAPL", 3))

    assert order.status == "filled" and float(order.filled_qty) == 3
    assert float(order.filled_avg_price) == pytest.approx(price)
    [position] = client.get_all_positions()
    assert position.symbol == "AAPL" and float(position.qty) == 3
    assert float(client.get_account().cash) == pytest.approx(100_000 - 3 * price, abs=0.01)
    assert client.get_order_by_id(order.id).status == "filled"


def test_limit_order_rests_until_the_price_crosses_and_can_be_canceled(
    alpaca: FakeAlpaca, client: TradingClient
) -> None:
    price = alpaca.book.prices["SPY"]
    below = LimitOrderRequest(
        symbol="SPY",
        qty=1,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY,
        limit_price=round(price - 5, 2),
    )
    resting = client.submit_order(below)
    spare = client.submit_order(below)

    client.cancel_order_by_id(spare.id)
    alpaca.set_price("SPY", price - 6)

    assert resting.status == "new"
    assert client.get_order_by_id(resting.id).status == "filled"
    assert client.get_order_by_id(spare.id).status == "canceled"
    assert client.get_orders() == []  # nothing open


def test_clock_and_asset(client: TradingClient) -> None:
    assert client.get_clock().is_open is True
    asset = client.get_asset("AAPL")
    assert asset.symbol == "AAPL" and asset.fractionable


def test_wrong_secret_is_unauthorized(alpaca: FakeAlpaca) -> None:
    client = TradingClient(KEY, "wrong", paper=True, url_override=alpaca.base_url)

    with pytest.raises(APIError) as caught:
        client.get_account()

    assert caught.value.status_code == 401


def test_429_carries_retry_after_and_the_next_request_succeeds(
    alpaca: FakeAlpaca, faults: FaultPlan
) -> None:
    faults.http.append(HttpFault(429, path="/v2/account", retry_after=2))
    request = urllib.request.Request(
        alpaca.base_url + "/v2/account",
        headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET},
    )

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    with urllib.request.urlopen(request, timeout=5) as answer:
        account = json.load(answer)

    assert caught.value.code == 429 and caught.value.headers["Retry-After"] == "2"
    assert json.load(caught.value)["code"] == 42910000
    assert account["status"] == "ACTIVE"
    assert [r.status for r in alpaca.requests_to("/v2/account")] == [429, 200]
    assert SECRET not in repr(alpaca.requests) and REDACTED in repr(alpaca.requests)


def test_rejected_order_is_a_403_and_changes_nothing(
    alpaca: FakeAlpaca, faults: FaultPlan, client: TradingClient
) -> None:
    faults.rejects.append(OrderReject(symbol="AAPL", reason="insufficient buying power"))

    with pytest.raises(APIError) as caught:
        client.submit_order(_buy("AAPL", 1))

    assert caught.value.status_code == 403
    assert client.get_all_positions() == []
    assert client.submit_order(_buy("AAPL", 1)).status == "filled"  # only the 1st is rejected


def test_fill_and_partial_fill_arrive_on_the_trade_updates_stream(
    alpaca: FakeAlpaca, faults: FaultPlan, client: TradingClient
) -> None:
    faults.partial_fills.append(PartialFill(fraction=0.25, symbol="AAPL"))
    stream, updates = _trade_updates(alpaca)
    with _running(stream, alpaca):
        wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 1, 5.0, "the trade stream")
        order = client.submit_order(_buy("AAPL", 4))
        alpaca.set_price("AAPL", alpaca.book.prices["AAPL"] + 1)
        wait_for(lambda: len(updates) == 3, 5.0, "three trade updates")

    assert [u.event for u in updates] == ["new", "partial_fill", "fill"]
    assert all(u.order.id == order.id for u in updates)
    assert [u.qty for u in updates[1:]] == [1.0, 3.0]
    assert updates[2].position_qty == 4.0
    assert float(client.get_all_positions()[0].qty) == 4


def test_a_fill_is_reported_late_and_twice_but_booked_at_once(
    alpaca: FakeAlpaca, faults: FaultPlan, client: TradingClient
) -> None:
    faults.delayed_fills.append(DelayedFill(delay_s=1.0))
    faults.duplicated_fills.append(DuplicatedFill())
    stream, updates = _trade_updates(alpaca)
    with _running(stream, alpaca):
        wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 1, 5.0, "the trade stream")
        order = client.submit_order(_buy("AAPL", 2))
        booked = (list(updates), len(alpaca.trading.fills))
        wait_for(lambda: len(updates) == 3, 5.0, "the late fill, twice")

    assert [u.event for u in booked[0]] in ([], ["new"]) and booked[1] == 1
    assert [u.event for u in updates] == ["new", "fill", "fill"]
    assert updates[1].execution_id == updates[2].execution_id
    assert all(u.order.id == order.id for u in updates)
    assert (alpaca.hub.delayed, alpaca.hub.duplicated) == (1, 1)


def test_cancel_and_reject_after_accept_arrive_on_the_trade_updates_stream(
    alpaca: FakeAlpaca, faults: FaultPlan, client: TradingClient
) -> None:
    faults.rejects.append(OrderReject(nth=2, after_accept=True, reason="halted"))
    stream, updates = _trade_updates(alpaca)
    with _running(stream, alpaca):
        wait_for(lambda: alpaca.hub.listening(TRADE_UPDATES) == 1, 5.0, "the trade stream")
        limit = LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=1
        )
        resting = client.submit_order(limit)
        client.cancel_orders()
        rejected = client.submit_order(_buy("SPY", 1))
        wait_for(lambda: len(updates) == 4, 5.0, "four trade updates")

    assert [(u.event, u.order.id) for u in updates] == [
        ("new", resting.id),
        ("canceled", resting.id),
        ("new", rejected.id),
        ("rejected", rejected.id),
    ]
    assert client.get_order_by_id(rejected.id).status == "rejected"


def test_order_accepted_but_answer_lost_is_at_the_venue(
    alpaca: FakeAlpaca, faults: FaultPlan, client: TradingClient
) -> None:
    faults.lost_responses.append(LostResponse(status=500))

    with pytest.raises(APIError) as caught:
        client.submit_order(_buy("AAPL", 2))

    assert caught.value.status_code == 500
    assert [o.status for o in client.get_orders(GetOrdersRequest(status="all"))] == ["filled"]


def test_bars_stream_to_stock_data_stream_and_survive_a_dropped_connection(
    alpaca: FakeAlpaca, faults: FaultPlan
) -> None:
    faults.ws_drops.append(WsDrop(after=1, path=STOCK_FEED))
    bars = []

    async def on_bar(bar) -> None:
        bars.append(bar)

    stream = StockDataStream(KEY, SECRET, feed=DataFeed.IEX, url_override=alpaca.ws_url(STOCK_FEED))
    stream.subscribe_bars(on_bar, "AAPL")
    channel = feed_channel(STOCK_FEED, "bars", "AAPL")
    with _running(stream, alpaca):
        wait_for(lambda: alpaca.hub.listening(channel) == 1, 5.0, "the bar subscription")
        alpaca.push_bar("AAPL", BAR_AT, (10.0, 11.0, 9.5, 10.5, 100.0))
        wait_for(lambda: alpaca.hub.dropped == 1, 5.0, "the dropped connection")
        wait_for(lambda: alpaca.hub.listening(channel) == 1, 10.0, "the resubscription")
        alpaca.push_bar("AAPL", BAR_AT.replace(minute=1), (10.5, 12.0, 10.0, 11.5, 50.0))
        wait_for(lambda: len(bars) == 2, 5.0, "two bars")

    assert [(b.symbol, b.timestamp, b.close) for b in bars] == [
        ("AAPL", BAR_AT, 10.5),
        ("AAPL", BAR_AT.replace(minute=1), 11.5),
    ]
    assert alpaca.book.prices["AAPL"] == 11.5


def test_close_all_positions_flattens_the_account(
    alpaca: FakeAlpaca, client: TradingClient
) -> None:
    client.submit_order(_buy("AAPL", 2))
    client.submit_order(
        MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.SELL, time_in_force="day")
    )

    closed = client.close_all_positions(cancel_orders=True)

    assert sorted(row.symbol for row in closed) == ["AAPL", "SPY"]
    assert all(row.status == 200 for row in closed)
    assert client.get_all_positions() == []
