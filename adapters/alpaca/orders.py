"""Alpaca's orders in a time window, every page of them (blocking: run it in a thread)."""

from datetime import timedelta
from uuid import UUID

from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.models import Order
from alpaca.trading.requests import GetOrdersRequest

ORDER_PAGE = 500  # Alpaca's largest page
_TICK = timedelta(microseconds=1)  # the finest `submitted_at` alpaca-py keeps


def orders_in_window(client: TradingClient, request: GetOrdersRequest) -> list[Order]:
    """Every order `request` selects (its status, symbols, `after` and `until`), newest first,
    each once. Alpaca sorts by `submitted_at` and its `until` is exclusive, so a full page may
    have another before it, asked for until just after the page's oldest order: orders that
    share that instant come again (and are dropped as seen) instead of being skipped."""
    page_size = ORDER_PAGE  # read here, so that a test can lower it
    page_request = request.model_copy(update={"limit": page_size, "direction": Sort.DESC})
    orders: dict[UUID, Order] = {}
    while True:
        page = client.get_orders(page_request)
        new = [order for order in page if order.id not in orders]
        orders.update((order.id, order) for order in new)
        if len(page) < page_size:
            return list(orders.values())
        oldest = min(order.submitted_at for order in page)
        # A full page of one instant would come back forever: step past that instant.
        until = oldest + _TICK if new else oldest
        page_request = page_request.model_copy(update={"until": until})
