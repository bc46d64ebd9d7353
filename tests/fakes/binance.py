"""A fake Binance: spot (`/api/v3`) and USDT-M futures (`/fapi/v1`) market data in Binance's
wire format, serving a `SyntheticHistory`; signed trading REST for both (`binance_trading`);
and the raw / combined websocket streams with klines and user-data events (`binance_streams`).

REST clients use `fake.base_url`; websocket clients use `fake.ws_url` (+ `/stream?streams=...`
or `/ws/<stream>`).
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd
from aiohttp import web

from tests.fakes.binance_auth import BinanceAuth
from tests.fakes.binance_streams import BinanceStreams
from tests.fakes.binance_symbols import futures_symbol, spot_symbol
from tests.fakes.binance_trading import BinanceAccount
from tests.fakes.faults import FaultPlan
from tests.fakes.orders import OrderBook, wall_ms
from tests.fakes.server import FakeServer
from tests.fakes.wire import StreamHub
from tests.support.series import SyntheticHistory

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
    """Fake Binance. `spot` and `futures` list the tradable symbols (e.g. "BTCUSDT") with their
    base and quote assets; every symbol serves bars from `history`, and its price starts at its
    last 1-minute close there. Signed requests must use `api_key` / `api_secret`. Each of the
    spot and futures accounts (`fake.spot`, `fake.futures`) starts with `cash` USDT."""

    def __init__(
        self,
        history: SyntheticHistory,
        faults: FaultPlan | None = None,
        spot: dict[str, tuple[str, str]] | None = None,
        futures: dict[str, tuple[str, str]] | None = None,
        api_key: str = "fake-api-key",
        api_secret: str = "fake-api-secret",
        cash: float = 100_000.0,
    ) -> None:
        super().__init__(faults)
        self.history = history
        default = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}
        self.markets = (
            _Market("/api/v3", 1000, spot or default, spot_symbol),
            _Market("/fapi/v1", 1500, futures or default, futures_symbol),
        )
        self.auth = BinanceAuth(api_key, api_secret, self.clock_ms)
        self.hub = StreamHub(self.faults)
        self.streams = BinanceStreams(self.hub)
        self.spot, self.futures = (
            self._account(market, market.prefix == "/fapi/v1", cash) for market in self.markets
        )
        self._expiry: asyncio.Task | None = None

    @property
    def ws_url(self) -> str:
        """`ws://127.0.0.1:PORT`, the base of the websocket streams."""
        return self.base_url.replace("http://", "ws://", 1)

    def clock_ms(self) -> int:
        """The venue's clock: now, shifted by the fault plan's `clock_skew_ms`."""
        return wall_ms() + self.faults.clock_skew_ms

    async def start(self, port: int = 0) -> None:
        self.hub.bind(asyncio.get_running_loop())
        await super().start(port)
        if self.faults.listen_key_ttl_s is not None:
            self._expiry = asyncio.create_task(self._expire_forever(self.faults.listen_key_ttl_s))

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await self.hub.close_all()
        await super().stop()

    def push_kline(
        self,
        symbol: str,
        at: datetime,
        ohlcv: tuple[float, float, float, float, float],
        interval: str = "1m",
        closed: bool = True,
    ) -> int:
        """Stream a kline opening at `at` to its subscribers and move `symbol`'s price (both
        markets) to its close, filling orders it crosses. Safe from any thread; returns the
        number of connections that got it."""
        open_ms = int(at.timestamp() * 1000)
        bar = dict(zip(("open", "high", "low", "close", "volume"), ohlcv, strict=True))
        bar |= {"open_ms": open_ms, "close_ms": open_ms + INTERVALS[interval] * 1000 - 1}
        return self.hub.call(self._push_kline, symbol, interval, bar, closed)

    def set_price(self, symbol: str, price: float) -> None:
        """Move `symbol`'s price in both markets. Safe from any thread."""
        self.hub.call(self._set_price, symbol, price)

    def expire_listen_keys(self) -> None:
        """Expire every listen key now, as Binance does after 60 minutes without keep-alive."""
        self.hub.call(self._expire, 0.0)

    def _account(self, market: _Market, futures: bool, cash: float) -> BinanceAccount:
        book = OrderBook(self.faults, cash, self.clock_ms, margin=futures)
        for symbol in market.symbols:
            book.prices[symbol] = float(self.history.frame(symbol, 60)["close"].iloc[-1])
        account = BinanceAccount(futures, book, self.auth, market.symbols)
        book.listeners.append(lambda event: self.streams.order_event(account, event))
        return account

    def _push_kline(self, symbol: str, interval: str, bar: dict, closed: bool) -> int:
        sent = self.streams.kline(symbol, interval, bar, closed)
        self._set_price(symbol, bar["close"])
        return sent

    def _set_price(self, symbol: str, price: float) -> None:
        for account in (self.spot, self.futures):
            if symbol in account.symbols:
                account.book.set_price(symbol, price)

    def _expire(self, ttl_s: float) -> None:
        for account in (self.spot, self.futures):
            for key in account.expired_keys(ttl_s):
                self.streams.expire(key, self.clock_ms())

    async def _expire_forever(self, ttl_s: float) -> None:
        while True:
            await asyncio.sleep(min(ttl_s / 4, 0.25))
            self._expire(ttl_s)

    def routes(self) -> list[web.RouteDef]:
        table = [*self.spot.routes(), *self.futures.routes(), *self.streams.routes()]
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
        return web.json_response({"serverTime": self.clock_ms()})

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
