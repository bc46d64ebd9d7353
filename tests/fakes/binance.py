"""A fake Binance REST server: spot (`/api/v3`) and USDT-M futures (`/fapi/v1`) market data,
in Binance's wire format, serving a `SyntheticHistory`.

Trading endpoints and user-data / market websockets join the route table later.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
from aiohttp import web

from tests.fakes.faults import FaultPlan
from tests.fakes.series import SyntheticHistory
from tests.fakes.server import FakeServer

INTERVALS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
}
PERPETUAL_DELIVERY_MS = 4133404800000  # Binance's "no expiry" delivery date

_ERRORS = {
    400: (-1100, "Illegal characters found in a parameter."),
    418: (-1003, "Way too many requests; IP banned until further notice."),
    429: (-1003, "Too much request weight used; please use WebSocket Streams for live updates."),
    500: (-1001, "Internal error; unable to process your request. Please try again."),
    503: (-1008, "Service Unavailable: server is currently overloaded with other requests."),
}


@dataclass(frozen=True)
class _Market:
    prefix: str  # URL prefix of the market's REST API
    max_limit: int
    symbols: dict[str, tuple[str, str]]  # exchange symbol -> (base asset, quote asset)
    describe: Callable[[str, str, str], dict[str, Any]]  # one exchangeInfo "symbols" entry


class FakeBinance(FakeServer):
    """Fake Binance market data. `spot` and `futures` list the tradable symbols (e.g. "BTCUSDT")
    with their base and quote assets; every symbol serves bars from `history`."""

    def __init__(
        self,
        history: SyntheticHistory,
        faults: FaultPlan | None = None,
        spot: dict[str, tuple[str, str]] | None = None,
        futures: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(faults)
        self.history = history
        default = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}
        self.markets = (
            _Market("/api/v3", 1000, spot or default, _spot_symbol),
            _Market("/fapi/v1", 1500, futures or default, _futures_symbol),
        )

    def routes(self) -> list[web.RouteDef]:
        table = []
        for market in self.markets:
            table += [
                web.get(f"{market.prefix}/ping", _ping),
                web.get(f"{market.prefix}/time", self._time),
                web.get(f"{market.prefix}/exchangeInfo", partial(self._exchange_info, market)),
                web.get(f"{market.prefix}/klines", partial(self._klines, market)),
            ]
        return table

    def error_body(self, status: int) -> dict[str, Any]:
        code, message = _ERRORS.get(status, _ERRORS[500])
        return {"code": code, "msg": message}

    def _now_ms(self) -> int:
        # The fake's clock stands at the end of its history: later bars do not exist yet.
        return int(self.history.end.timestamp() * 1000)

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self._now_ms()})

    async def _exchange_info(self, market: _Market, request: web.Request) -> web.Response:
        symbols = [market.describe(name, *assets) for name, assets in market.symbols.items()]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": self._now_ms(),
                "rateLimits": [
                    _rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
                    _rate_limit("ORDERS", "SECOND", 10, 100),
                    _rate_limit("RAW_REQUESTS", "MINUTE", 5, 61000),
                ],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    async def _klines(self, market: _Market, request: web.Request) -> web.Response:
        query = request.query
        problem = _kline_query_problem(query, market)
        if problem:
            return web.json_response({"code": problem[0], "msg": problem[1]}, status=400)
        step_s = INTERVALS[query["interval"]]
        limit = int(query.get("limit", "500"))
        first = int(query.get("startTime", 0))
        last = int(query.get("endTime", self._now_ms()))
        frame = self.history.between(query["symbol"], step_s, first, last)
        # Binance serves the earliest `limit` bars after startTime, else the latest ones.
        frame = frame.iloc[:limit] if "startTime" in query else frame.iloc[-limit:]
        return web.json_response(_kline_rows(frame, step_s))


async def _ping(request: web.Request) -> web.Response:
    return web.json_response({})


def _kline_query_problem(query: Any, market: _Market) -> tuple[int, str] | None:
    if not query.get("symbol"):
        return -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
    if query["symbol"] not in market.symbols:
        return -1121, "Invalid symbol."
    if query.get("interval") not in INTERVALS:
        return -1120, "Invalid interval."
    limit = query.get("limit", "500")
    if not limit.isdigit() or not 1 <= int(limit) <= market.max_limit:
        return -1130, "Data sent for parameter 'limit' is not valid."
    return None


def _kline_rows(frame: pd.DataFrame, step_s: int) -> list[list[Any]]:
    rows = []
    opens_ms = frame.index.asi8 // 1_000_000
    for open_ms, bar in zip(opens_ms.tolist(), frame.itertuples(index=False), strict=True):
        quote_volume = bar.volume * bar.close
        rows.append(
            [
                open_ms,
                f"{bar.open:.8f}",
                f"{bar.high:.8f}",
                f"{bar.low:.8f}",
                f"{bar.close:.8f}",
                f"{bar.volume:.8f}",
                open_ms + step_s * 1000 - 1,
                f"{quote_volume:.8f}",
                int(bar.volume * 10) + 1,
                f"{bar.volume / 2:.8f}",
                f"{quote_volume / 2:.8f}",
                "0",
            ]
        )
    return rows


def _rate_limit(kind: str, interval: str, num: int, limit: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}


def _common_filters() -> list[dict[str, Any]]:
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01",
            "maxPrice": "1000000.00",
            "tickSize": "0.01",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00001",
            "maxQty": "9000.00000",
            "stepSize": "0.00001",
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.00000",
            "maxQty": "100.00000",
            "stepSize": "0.00000",
        },
    ]


def _spot_symbol(symbol: str, base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            *_common_filters(),
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _futures_symbol(symbol: str, base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_MS,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": [
            *_common_filters(),
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }
