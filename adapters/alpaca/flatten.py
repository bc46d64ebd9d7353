"""Manual flatten on Alpaca: cancel one symbol's open orders, then close its position
(`DELETE /v2/positions`), outside the node (stopped, halted or unreachable).

The node, restarted afterwards, reconciles: the strategies' positions are closed by the venue's
report, and the difference is journalled (`bot.engine.persistence`).
"""

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from adapters.alpaca.factories import trading_client
from adapters.alpaca.providers import fetch_asset, is_position_of
from adapters.checks import Flattened
from bot.core.errors import VenueError
from bot.core.settings import Secrets, Settings


def flatten(settings: Settings, secrets: Secrets, symbol: str) -> Flattened:
    """Cancel `symbol`'s open orders and close its position at Alpaca."""
    url = settings.venues.alpaca.trading_url
    client = trading_client(
        secrets.require("alpaca_api_key"), secrets.require("alpaca_secret_key"), url
    )
    try:
        # Alpaca's own spelling ("AAPL", "BTC/USD"), as a node trades it; a symbol it does not
        # list is refused, never reported flat.
        symbol = fetch_asset(client, symbol.upper()).symbol
        request = GetOrdersRequest(status=QueryOrderStatus.OPEN, symbols=[symbol])
        open_orders = client.get_orders(filter=request)
        for order in open_orders:
            client.cancel_order_by_id(order.id)
        mine = [p for p in client.get_all_positions() if is_position_of(p.symbol, symbol)]
        held = sum(float(p.qty) for p in mine)
        for position in mine:
            client.close_position(position.symbol)
    except APIError as exc:  # branch on the HTTP status: `.code` raises on bodies without one
        raise VenueError(
            f"Flatten: Alpaca at {url} answered HTTP {exc.status_code} ({exc}). Check the "
            "account in Alpaca's dashboard and close what is left there."
        ) from None
    except requests.RequestException as exc:
        raise VenueError(
            f"Flatten: Alpaca at {url} is unreachable ({type(exc).__name__}). Check the network "
            "and venues.alpaca.trading_url, then run it again, or close what is left in "
            "Alpaca's dashboard."
        ) from None
    return Flattened("alpaca", symbol, len(open_orders), held)
