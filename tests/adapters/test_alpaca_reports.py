"""Alpaca's FILL activities as nautilus fill reports: the trade id a restart compares with the
fills it booked from the trade stream."""

from adapters.alpaca.reports import activity_trade_id

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
