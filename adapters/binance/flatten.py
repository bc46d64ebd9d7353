"""Manual flatten on Binance: cancel every open order of one symbol and close its position at
the venue, outside the node (stopped, halted or unreachable), straight through the venue's API.

- USDT-M futures: cancel all open orders, then one market order against the net (one-way
  `BOTH`) position.
- Spot: cancel all open orders, then sell the free base asset, rounded down to the symbol's lot
  step.

The node, restarted afterwards, reconciles: the strategies' positions are closed by the venue's
report, and the difference is journalled (`bot.engine.persistence`).
"""

import math

from adapters.binance.rest import BinanceRest, rest_base_url
from adapters.checks import Flattened
from bot.core.settings import Secrets, Settings


def flatten(settings: Settings, secrets: Secrets, symbol: str) -> Flattened:
    """Cancel `symbol`'s open orders and close its position at Binance."""
    venue = settings.venues.binance
    symbol = symbol.upper()
    rest = BinanceRest(rest_base_url(venue), secrets, venue.recv_window_ms, stage="Flatten")
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
