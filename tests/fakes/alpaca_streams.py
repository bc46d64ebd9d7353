"""The fake Alpaca's websockets: the JSON `trade_updates` stream (`/stream`) and the msgpack
market-data streams (`/v2/iex` for stocks, `/v1beta3/crypto/us` for crypto) with Alpaca's
auth, listen/subscribe handshakes and its one-connection-per-feed limit."""

import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import msgpack
from aiohttp import web

from tests.fakes.alpaca_trading import TRADE_UPDATES
from tests.fakes.wire import Connection, Payload, StreamHub

STOCK_FEED, CRYPTO_FEED = "/v2/iex", "/v1beta3/crypto/us"
TRADING_STREAM = "/stream"
_CHANNELS = {"bars": "b", "quotes": "q", "trades": "t", "updatedBars": "u", "dailyBars": "d"}


def _pack(*messages: dict[str, Any]) -> bytes:
    return msgpack.packb(list(messages))


def timestamp(moment: datetime) -> msgpack.Timestamp:
    """A timezone-aware datetime as the msgpack Timestamp Alpaca sends for `t`."""
    return msgpack.Timestamp.from_unix_nano(int(moment.timestamp() * 1_000_000_000))


def feed_channel(feed: str, kind: str, symbol: str) -> str:
    """The hub channel of one market-data subscription, e.g. ("/v2/iex", "bars", "AAPL")."""
    return f"{feed}:{kind}:{symbol}"


class AlpacaStreams:
    """Websocket endpoints of the fake Alpaca; `credentials(key, secret)` says whether a login
    is valid."""

    def __init__(self, hub: StreamHub, credentials: Callable[[str, str], bool]) -> None:
        self.hub = hub
        self.credentials = credentials

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(TRADING_STREAM, self._trading),
            web.get(STOCK_FEED, partial(self._market, STOCK_FEED)),
            web.get(CRYPTO_FEED, partial(self._market, CRYPTO_FEED)),
        ]

    def publish(self, feed: str, kind: str, message: dict[str, Any]) -> int:
        """Send one market-data message (`T` set by the caller) to the feed's subscribers of
        `message["S"]`; returns how many connections got it."""
        return self.hub.publish(feed_channel(feed, kind, message["S"]), _pack(message))

    async def _trading(self, request: web.Request) -> web.WebSocketResponse:
        return await self.hub.serve(request, self._on_trading)

    async def _on_trading(self, conn: Connection, data: Payload) -> None:
        message = json.loads(data)
        action, payload = message.get("action"), message.get("data") or {}
        if action == "authenticate":
            ok = self.credentials(payload.get("key_id", ""), payload.get("secret_key", ""))
            conn.state["authed"] = ok
            status = "authorized" if ok else "unauthorized"
            reply = {"stream": "authorization", "data": {"status": status, "action": action}}
            conn.send(json.dumps(reply))
        elif action == "listen" and conn.state.get("authed"):
            streams = [s for s in payload.get("streams", []) if s == TRADE_UPDATES]
            conn.channels.update(streams)
            conn.send(json.dumps({"stream": "listening", "data": {"streams": streams}}))

    async def _market(self, feed: str, request: web.Request) -> web.WebSocketResponse:
        greeting = _pack({"T": "success", "msg": "connected"})
        return await self.hub.serve(request, partial(self._on_market, feed), greeting)

    async def _on_market(self, feed: str, conn: Connection, data: Payload) -> None:
        message = msgpack.unpackb(data)
        action = message.get("action")
        if action == "auth":
            await self._auth(feed, conn, message)
        elif not conn.state.get("authed"):
            conn.send(_pack({"T": "error", "code": 401, "msg": "not authenticated"}))
        elif action in ("subscribe", "unsubscribe"):
            for kind in _CHANNELS:
                channels = {feed_channel(feed, kind, s) for s in message.get(kind, [])}
                if action == "subscribe":
                    conn.channels |= channels
                else:
                    conn.channels -= channels
            conn.send(_pack({"T": "subscription", **_subscriptions(feed, conn)}))

    async def _auth(self, feed: str, conn: Connection, message: dict[str, Any]) -> None:
        if not self.credentials(message.get("key", ""), message.get("secret", "")):
            conn.send(_pack({"T": "error", "code": 402, "msg": "auth failed"}))
            return
        others = [c for c in self.hub.connections if c is not conn and c.state.get(feed)]
        if others:
            # Alpaca allows one market-data connection per feed and account.
            conn.send(_pack({"T": "error", "code": 406, "msg": "connection limit exceeded"}))
            return
        conn.state |= {"authed": True, feed: True}
        conn.send(_pack({"T": "success", "msg": "authenticated"}))


def _subscriptions(feed: str, conn: Connection) -> dict[str, list[str]]:
    listed: dict[str, list[str]] = {kind: [] for kind in _CHANNELS}
    for channel in sorted(conn.channels):
        channel_feed, kind, symbol = channel.split(":", 2)
        if channel_feed == feed:
            listed[kind].append(symbol)
    return listed
