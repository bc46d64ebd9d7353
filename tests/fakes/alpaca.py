"""A fake Alpaca: market-data REST (stock bars `/v2/stocks/bars`, crypto bars
`/v1beta3/crypto/us/bars`, paginated with `next_page_token`, serving a `SyntheticHistory`),
the trading REST API (`alpaca_trading`), and the msgpack market-data and JSON `trade_updates`
websockets (`alpaca_streams`).

Point alpaca-py at it with `url_override=fake.base_url` for REST clients and the full
`fake.ws_url(path)` for stream clients.
"""

import asyncio
import base64
import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import web

from tests.fakes.alpaca_streams import CRYPTO_FEED, STOCK_FEED, AlpacaStreams, timestamp
from tests.fakes.alpaca_trading import AlpacaTrading
from tests.fakes.faults import FaultPlan
from tests.fakes.orders import OrderBook
from tests.fakes.server import FakeServer
from tests.fakes.wire import StreamHub
from tests.support.series import SyntheticHistory

MAX_LIMIT = 10_000
_UNIT_SECONDS = {"Min": 60, "T": 60, "Hour": 3600, "H": 3600, "Day": 86400, "D": 86400}
_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D)$")
_UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}


class FakeAlpaca(FakeServer):
    """Fake Alpaca. Stock-bar requests must carry `key_id` and `secret_key`; crypto-bar
    requests may omit keys but, when sent, they must match; trading requests and stream logins
    need them. Pages hold at most `page_size` bars (and never more than the request's `limit`).
    The account starts with `cash` USD; each symbol's price starts at its last 1-minute close
    in `history` and moves with `push_bar` / `set_price`. `/v2/clock` says `market_open`."""

    def __init__(
        self,
        history: SyntheticHistory,
        faults: FaultPlan | None = None,
        key_id: str = "fake-key-id",
        secret_key: str = "fake-secret-key",
        stocks: tuple[str, ...] = ("AAPL", "SPY"),
        crypto: tuple[str, ...] = ("BTC/USD", "ETH/USD"),
        page_size: int = 1000,
        cash: float = 100_000.0,
        market_open: bool = True,
    ) -> None:
        super().__init__(faults)
        self.history = history
        self.key_id = key_id
        self.secret_key = secret_key
        self.stocks = stocks
        self.crypto = crypto
        self.page_size = page_size
        self.hub = StreamHub(self.faults)
        self.book = OrderBook(self.faults, cash)
        for symbol in stocks + crypto:
            self.book.prices[symbol] = float(history.frame(symbol, 60)["close"].iloc[-1])
        self.trading = AlpacaTrading(self.book, self.hub, self._trading_keys, crypto, market_open)
        self.streams = AlpacaStreams(self.hub, self._login)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v2/stocks/bars", partial(self._bars, self.stocks, True, {"currency": "USD"})),
            web.get("/v1beta3/crypto/us/bars", partial(self._bars, self.crypto, False, {})),
            *self.trading.routes(),
            *self.streams.routes(),
        ]

    def ws_url(self, path: str) -> str:
        """The full websocket URL of `path` ("/stream", "/v2/iex", "/v1beta3/crypto/us")."""
        return self.base_url.replace("http://", "ws://", 1) + path

    async def start(self, port: int = 0) -> None:
        self.hub.bind(asyncio.get_running_loop())
        await super().start(port)

    async def stop(self) -> None:
        await self.hub.close_all()
        await super().stop()

    def push_bar(
        self, symbol: str, at: datetime, ohlcv: tuple[float, float, float, float, float]
    ) -> int:
        """Stream a bar (open time `at`) to the symbol's subscribers and move its price to the
        close, filling orders it crosses. Safe from any thread; returns the listener count."""
        open_, high, low, close, volume = ohlcv
        message = {"T": "b", "S": symbol, "o": open_, "h": high, "l": low, "c": close}
        message |= {"v": volume, "t": timestamp(at), "n": int(volume * 10) + 1, "vw": close}
        return self.hub.call(self._push, symbol, "bars", message, close)

    def push_quote(self, symbol: str, at: datetime, bid: float, ask: float) -> int:
        """Stream a quote to the symbol's subscribers and move its price to the mid."""
        message = {"T": "q", "S": symbol, "bx": "V", "bp": bid, "bs": 1.0, "ax": "V"}
        message |= {"ap": ask, "as": 1.0, "t": timestamp(at), "c": ["R"], "z": "C"}
        return self.hub.call(self._push, symbol, "quotes", message, (bid + ask) / 2)

    def set_price(self, symbol: str, price: float) -> None:
        """Move a symbol's price without streaming anything. Safe from any thread."""
        self.hub.call(self.book.set_price, symbol, price)

    def _push(self, symbol: str, kind: str, message: dict[str, Any], price: float) -> int:
        feed = CRYPTO_FEED if symbol in self.crypto else STOCK_FEED
        sent = self.streams.publish(feed, kind, message)
        self.book.set_price(symbol, price)
        return sent

    def _login(self, key: str, secret: str) -> bool:
        return key == self.key_id and secret == self.secret_key

    def _trading_keys(self, headers: Any) -> bool:
        return self._authorized(headers, required=True)

    def error_body(self, status: int) -> dict[str, Any]:
        if status == 429:
            return {"code": 42910000, "message": "rate limit exceeded"}
        return {"code": 50010000, "message": "internal server error occurred"}

    def _authorized(self, headers: Any, required: bool) -> bool:
        key, secret = headers.get("APCA-API-KEY-ID"), headers.get("APCA-API-SECRET-KEY")
        if key is None and secret is None:
            return not required
        return key == self.key_id and secret == self.secret_key

    async def _bars(
        self,
        listed: tuple[str, ...],
        keys_required: bool,
        extra: dict[str, Any],
        request: web.Request,
    ) -> web.Response:
        if not self._authorized(request.headers, keys_required):
            return web.json_response(_UNAUTHORIZED, status=401)
        try:
            query = _parse_query(request.query, listed, self.history)
        except ValueError as exc:
            return web.json_response({"code": 40010001, "message": str(exc)}, status=400)
        frames = [
            (symbol, self.history.between(symbol, query["step_s"], query["first"], query["last"]))
            for symbol in sorted(query["symbols"])
        ]
        rows = [(symbol, bar) for symbol, frame in frames for bar in frame.itertuples(name="Bar")]
        size = min(query["limit"], self.page_size)
        offset = query["offset"]
        page, more = rows[offset : offset + size], offset + size < len(rows)
        bars: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in page:
            bars.setdefault(symbol, []).append(_bar_json(bar))
        token = _token(offset + size) if more else None
        return web.json_response({"bars": bars, "next_page_token": token, **extra})


def _parse_query(query: Any, listed: tuple[str, ...], history: SyntheticHistory) -> dict[str, Any]:
    symbols = [symbol for symbol in query.get("symbols", "").split(",") if symbol]
    if not symbols:
        raise ValueError("symbols is required")
    unknown = [symbol for symbol in symbols if symbol not in listed]
    if unknown:
        raise ValueError(f"invalid symbol: {unknown[0]}")
    match = _TIMEFRAME.match(query.get("timeframe", ""))
    if match is None:
        raise ValueError("invalid timeframe")
    limit = int(query.get("limit", "1000"))
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError("invalid limit: must be between 1 and 10000")
    return {
        "symbols": symbols,
        "step_s": int(match[1]) * _UNIT_SECONDS[match[2]],
        "first": _epoch_ms(query.get("start"), history.start),
        "last": _epoch_ms(query.get("end"), history.end),  # Alpaca's end is inclusive
        "limit": limit,
        "offset": _offset(query.get("page_token")),
    }


def _epoch_ms(text: str | None, default: datetime) -> int:
    moment = default if text is None else datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
    except ValueError as exc:
        raise ValueError("invalid page_token") from exc


def _bar_json(bar: Any) -> dict[str, Any]:
    return {
        "t": bar.Index.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": bar.open,
        "h": bar.high,
        "l": bar.low,
        "c": bar.close,
        "v": bar.volume,
        "n": int(bar.volume * 10) + 1,
        "vw": round((bar.high + bar.low + bar.close) / 3, 4),
    }
