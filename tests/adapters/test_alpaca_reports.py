"""Alpaca's FILL activities as nautilus fill reports: the trade id a restart compares with the
fills it booked from the trade stream, and every page of them read."""

from alpaca.trading.enums import OrderSide
from alpaca.trading.requests import MarketOrderRequest

from adapters.alpaca.activities import FILLS_PATH, fill_activities
from adapters.alpaca.factories import trading_client
from adapters.alpaca.reports import activity_trade_id
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
