"""Alpaca's FILL activities as nautilus fill reports: the trade id a restart compares with the
fills it booked from the trade stream, and every page of them read; and every page of orders
read for the order status reports of start-up reconciliation."""

import asyncio

import pytest
from alpaca.trading.enums import OrderSide
from alpaca.trading.requests import MarketOrderRequest
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import GenerateOrderStatusReports
from nautilus_trader.execution.reports import OrderStatusReport
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.identifiers import AccountId, ClientId, TraderId

from adapters.alpaca import orders
from adapters.alpaca.activities import FILLS_PATH, fill_activities
from adapters.alpaca.config import AlpacaExecClientConfig, ClientParts, alpaca_instrument_id
from adapters.alpaca.constants import ALPACA
from adapters.alpaca.execution import AlpacaExecutionClient
from adapters.alpaca.factories import trading_client
from adapters.alpaca.providers import AlpacaInstrumentProvider
from adapters.alpaca.reports import activity_trade_id
from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.orders import LIMIT, wall_ms
from tests.support.alpaca_node import KEY, SECRET, serve_alpaca

EXECUTION_ID = "8efc7b9a-8b2b-4000-9955-d36e7db0df74"


def test_the_trade_id_of_a_fill_activity_is_the_trade_streams_execution_id() -> None:
    # Arrange: Alpaca's activity ids are "<time>::<execution id>", 61 characters.
    row = {"id": f"20240102T143000.123Z::{EXECUTION_ID}"}

    # Act
    trade_id = activity_trade_id(row)

    # Assert
    assert trade_id.value == EXECUTION_ID


def test_an_activity_id_without_a_separator_is_kept_within_the_trade_id_limit() -> None:
    # Act
    trade_id = activity_trade_id({"id": "x" * 50})

    # Assert
    assert trade_id.value == "x" * 36


def test_fill_activities_are_read_page_by_page_to_the_last() -> None:
    # Arrange: five fills at the fake, read two to a page.
    with serve_alpaca() as alpaca:
        client = trading_client(KEY, SECRET, alpaca.base_url)
        for _ in range(5):
            client.submit_order(
                MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force="day")
            )

        # Act
        rows = fill_activities(client, None, page_size=2)
        requests = alpaca.requests_to(f"/v2{FILLS_PATH}")

    # Assert: all five, oldest first, in three requests (the last page is short).
    assert [row["id"] for row in rows] == [row["id"] for row in alpaca.trading.fills]
    assert len(rows) == 5 and len(requests) == 3


def test_order_status_reports_cover_every_page_of_orders_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Arrange: eight AAPL orders, three to a page. The oldest rests open; two share the instant
    # at the first page's end, where an exclusive `until` alone would skip one of them.
    monkeypatch.setattr(orders, "ORDER_PAGE", 3)
    start = wall_ms() - 60_000
    with serve_alpaca() as alpaca:
        book = alpaca.book
        book.clock = lambda: start
        resting = book.submit("AAPL", "buy", 1, LIMIT, round(book.prices["AAPL"] / 2, 2))
        for at in (1_000, 2_000, 3_000, 4_000, 4_000, 5_000, 6_000):
            book.clock = lambda at=at: start + at
            book.submit("AAPL", "buy", 1)

        # Act
        reports = asyncio.run(_order_status_reports(alpaca))
        requests = alpaca.requests_to("/v2/orders")

    # Assert: all eight once, the old open order among them, in three full pages and a short one.
    venue_ids = [report.venue_order_id.value for report in reports]
    assert sorted(venue_ids) == sorted(book.orders) and len(set(venue_ids)) == 8
    status = {report.venue_order_id.value: report.order_status for report in reports}
    assert status[resting.id] == OrderStatus.ACCEPTED
    assert len(requests) == 4


async def _order_status_reports(alpaca: FakeAlpaca) -> list[OrderStatusReport]:
    """The execution client's order status reports of every order, as reconciliation asks."""
    instruments = InstrumentProviderConfig(load_ids=frozenset({alpaca_instrument_id("AAPL")}))
    config = AlpacaExecClientConfig(
        api_key=KEY, secret_key=SECRET, trading_url=alpaca.base_url, instrument_provider=instruments
    )
    rest = trading_client(KEY, SECRET, alpaca.base_url)
    provider = AlpacaInstrumentProvider(rest, instruments)
    await provider.initialize()
    clock = LiveClock()
    bus = MessageBus(TraderId("TESTER-001"), clock)
    loop = asyncio.get_running_loop()
    parts = ClientParts(loop, ClientId(ALPACA), bus, Cache(), clock, rest, provider)
    client = AlpacaExecutionClient(parts, config)
    client._set_account_id(AccountId(f"{ALPACA}-PA0FAKE0001"))
    command = GenerateOrderStatusReports(None, None, None, False, UUID4(), clock.timestamp_ns())
    return await client.generate_order_status_reports(command)
