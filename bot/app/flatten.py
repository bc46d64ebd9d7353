"""Manual flatten: cancel every open order of one symbol and close its position at the venue,
outside the node (stopped, halted or unreachable), straight through the venue's API.

- Binance USDT-M futures: cancel all open orders, then one market order against the net
  (one-way `BOTH`) position. Spot: cancel all open orders, then sell the free base asset,
  rounded down to the symbol's lot step.
- Alpaca: cancel the symbol's open orders, then close its position (`DELETE /v2/positions`).

The node, restarted afterwards, reconciles: the strategies' positions are closed by the venue's
report, and the difference is journalled (`bot.engine.persistence`).
"""

import math
from dataclasses import dataclass

from alpaca.common.exceptions import APIError
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest
from nautilus_trader.adapters.binance.common.urls import get_http_base_url

from adapters.alpaca.factories import trading_client
from adapters.binance.config import MARKETS
from bot.app.preflight import BinanceRest
from bot.core.errors import VenueError
from bot.core.settings import Secrets, Settings


@dataclass(frozen=True)
class Flattened:
    """What a flatten did at the venue."""

    venue: str
    symbol: str
    cancelled: int
    closed_qty: float  # the signed quantity that was closed (0 when already flat)


def flatten(venue: str, settings: Settings, secrets: Secrets, symbol: str) -> Flattened:
    """Cancel `symbol`'s open orders and close its position at `venue` (binance or alpaca)."""
    if venue == "alpaca":
        return _flatten_alpaca(settings, secrets, symbol)
    return _flatten_binance(settings, secrets, symbol.upper())


def _flatten_binance(settings: Settings, secrets: Secrets, symbol: str) -> Flattened:
    venue = settings.venues.binance
    base_url = venue.base_url_http or get_http_base_url(MARKETS[venue.market], venue.testnet, False)
    rest = BinanceRest(base_url, secrets, venue.recv_window_ms, stage="Flatten")
    futures = venue.market == "usdt_futures"
    prefix = "/fapi/v1" if futures else "/api/v3"
    cancelled = len(rest.get(f"{prefix}/openOrders", {"symbol": symbol}, signed=True))
    if cancelled:
        rest.request("DELETE", f"{prefix}/allOpenOrders", {"symbol": symbol}, signed=True)
    held = _futures_position(rest, symbol) if futures else _spot_holding(rest, symbol)
    if held:
        order = {"symbol": symbol, "side": "SELL" if held > 0 else "BUY", "type": "MARKET"}
        rest.request("POST", f"{prefix}/order", order | {"quantity": f"{abs(held):f}"}, True)
    return Flattened("binance", symbol, cancelled, held)


def _futures_position(rest: BinanceRest, symbol: str) -> float:
    rows = rest.get("/fapi/v2/positionRisk", {"symbol": symbol}, signed=True)
    return sum(float(row["positionAmt"]) for row in rows if row["symbol"] == symbol)


def _spot_holding(rest: BinanceRest, symbol: str) -> float:
    info = rest.get("/api/v3/exchangeInfo", {"symbol": symbol})
    entry = next(e for e in info["symbols"] if e["symbol"] == symbol)
    step = next(float(f["stepSize"]) for f in entry["filters"] if f["filterType"] == "LOT_SIZE")
    balances = rest.get("/api/v3/account", signed=True)["balances"]
    free = next((float(b["free"]) for b in balances if b["asset"] == entry["baseAsset"]), 0.0)
    return math.floor(free / step + 1e-9) * step


def _flatten_alpaca(settings: Settings, secrets: Secrets, symbol: str) -> Flattened:
    url = settings.venues.alpaca.trading_url
    client = trading_client(
        secrets.require("alpaca_api_key"), secrets.require("alpaca_secret_key"), url
    )
    try:
        request = GetOrdersRequest(status=QueryOrderStatus.OPEN, symbols=[symbol])
        open_orders = client.get_orders(filter=request)
        for order in open_orders:
            client.cancel_order_by_id(order.id)
        held = {p.symbol: float(p.qty) for p in client.get_all_positions()}.get(symbol, 0.0)
        if held:
            client.close_position(symbol)
    except APIError as exc:  # branch on the HTTP status: `.code` raises on bodies without one
        raise VenueError(
            f"Flatten: Alpaca at {url} answered HTTP {exc.status_code} ({exc}). Check the "
            "account in Alpaca's dashboard and close what is left there."
        ) from None
    return Flattened("alpaca", symbol, len(open_orders), held)
