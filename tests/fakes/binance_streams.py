"""The fake Binance's websockets: raw (`/ws/<stream>`) and combined (`/stream?streams=a/b`)
streams with SUBSCRIBE / UNSUBSCRIBE, kline events, and the user-data streams named by listen
keys, carrying `executionReport` (spot) or `ORDER_TRADE_UPDATE` (futures) for order events
and `listenKeyExpired` when a key lapses. The fault plan's `DelayedFill` and `DuplicatedFill`
report a fill late or twice (`StreamHub.report`)."""

import json
from typing import Any

from aiohttp import web

from tests.fakes.binance_trading import STATUS, BinanceAccount, num
from tests.fakes.orders import OrderEvent
from tests.fakes.wire import Connection, Payload, StreamHub

_EXECUTION = {"new": "NEW", "partial_fill": "TRADE", "fill": "TRADE"}
_EXECUTION |= {"canceled": "CANCELED", "rejected": "REJECTED"}


class BinanceStreams:
    """Websocket endpoints of the fake Binance."""

    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/stream", self._combined), web.get("/ws/{stream}", self._raw)]

    def publish(self, stream: str, data: dict[str, Any]) -> int:
        """Send `data` on `stream` to raw and combined subscribers; returns how many got it."""
        wrapped = json.dumps({"stream": stream, "data": data})
        return self.hub.publish(f"raw:{stream}", json.dumps(data)) + self.hub.publish(
            f"combined:{stream}", wrapped
        )

    def kline(self, symbol: str, interval: str, bar: dict[str, Any], closed: bool) -> int:
        """Publish a kline event; `bar` has open_ms, close_ms, open, high, low, close, volume."""
        stream = f"{symbol.lower()}@kline_{interval}"
        k = {
            "t": bar["open_ms"],
            "T": bar["close_ms"],
            "s": symbol,
            "i": interval,
            "f": 1,
            "L": 2,
            "o": num(bar["open"]),
            "c": num(bar["close"]),
            "h": num(bar["high"]),
            "l": num(bar["low"]),
            "v": num(bar["volume"]),
            "n": 2,
            "x": closed,
            "q": num(bar["volume"] * bar["close"]),
            "V": "0",
            "Q": "0",
            "B": "0",
        }
        return self.publish(stream, {"e": "kline", "E": bar["close_ms"], "s": symbol, "k": k})

    def order_event(self, account: BinanceAccount, event: OrderEvent) -> None:
        """Report one order event on every user stream of `account` (late or twice when the
        fault plan says so for a fill)."""
        messages = _user_messages(account, event)  # built now: the order changes meanwhile

        def send() -> None:
            for key, data in messages:
                self.publish(key, data)

        self.hub.report(send, fill=event.kind in ("partial_fill", "fill"))

    def expire(self, key: str, at_ms: int) -> None:
        """Tell the user stream of `key` that the key expired."""
        self.publish(key, {"e": "listenKeyExpired", "E": at_ms, "listenKey": key})

    async def _combined(self, request: web.Request) -> web.WebSocketResponse:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        return await self._serve(request, "combined", streams)

    async def _raw(self, request: web.Request) -> web.WebSocketResponse:
        streams = [request.match_info["stream"]]
        return await self._serve(request, "raw", streams)

    async def _serve(
        self, request: web.Request, kind: str, streams: list[str]
    ) -> web.WebSocketResponse:
        channels = [f"{kind}:{stream}" for stream in streams]
        return await self.hub.serve(request, self._on_message, None, {"kind": kind}, channels)

    async def _on_message(self, conn: Connection, data: Payload) -> None:
        message = json.loads(data)
        method, params = message.get("method"), message.get("params") or []
        channels = {f"{conn.state['kind']}:{stream}" for stream in params}
        result: Any = None
        if method == "SUBSCRIBE":
            conn.channels |= channels
        elif method == "UNSUBSCRIBE":
            conn.channels -= channels
        elif method == "LIST_SUBSCRIPTIONS":
            result = sorted(channel.split(":", 1)[1] for channel in conn.channels)
        conn.send(json.dumps({"result": result, "id": message.get("id")}))


def _user_messages(account: BinanceAccount, event: OrderEvent) -> list[tuple[str, dict]]:
    messages = []
    for key in account.listen_keys:
        if account.futures:
            messages.append((key, _order_trade_update(event)))
            if event.qty:
                messages.append((key, _account_update(account, event)))
        else:
            messages.append((key, _execution_report(event)))
            if event.qty:
                messages.append((key, _account_position(account, event)))
    return messages


def _order_trade_update(event: OrderEvent) -> dict[str, Any]:
    order = event.order
    o = {
        "s": order.symbol,
        "c": order.client_id,
        "S": order.side.upper(),
        "o": order.type.upper(),
        "f": "GTC",
        "q": num(order.qty),
        "p": num(order.limit_price or 0),
        "ap": num(order.avg_price),
        "sp": "0",
        "x": _EXECUTION[event.kind],
        "X": STATUS[order.status],
        "i": order.number,
        "l": num(event.qty),
        "z": num(order.filled_qty),
        "L": num(event.price),
        "N": "USDT",
        "n": "0",
        "T": event.at_ms,
        "t": event.trade_id,
        "b": "0",
        "a": "0",
        "m": order.type == "limit",
        "R": False,
        "wt": "CONTRACT_PRICE",
        "ot": order.type.upper(),
        "ps": "BOTH",
        "cp": False,
        "rp": "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "NONE",
        "pm": "NONE",
        "gtd": 0,
    }
    return {"e": "ORDER_TRADE_UPDATE", "E": event.at_ms, "T": event.at_ms, "o": o}


def _account_update(account: BinanceAccount, event: OrderEvent) -> dict[str, Any]:
    symbol = event.order.symbol
    position = account.book.position(symbol)
    cash = num(account.book.cash)
    data = {
        "m": "ORDER",
        "B": [{"a": account.quote, "wb": cash, "cw": cash, "bc": "0"}],
        "P": [
            {
                "s": symbol,
                "pa": num(position.qty),
                "ep": num(position.avg_price),
                "cr": "0",
                "up": "0",
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
            }
        ],
    }
    return {"e": "ACCOUNT_UPDATE", "E": event.at_ms, "T": event.at_ms, "a": data}


def _execution_report(event: OrderEvent) -> dict[str, Any]:
    order = event.order
    return {
        "e": "executionReport",
        "E": event.at_ms,
        "s": order.symbol,
        "c": order.client_id,
        "S": order.side.upper(),
        "o": order.type.upper(),
        "f": "GTC",
        "q": num(order.qty),
        "p": num(order.limit_price or 0),
        "P": "0",
        "F": "0",
        "g": -1,
        "C": "",
        "x": _EXECUTION[event.kind],
        "X": STATUS[order.status],
        "r": "INSUFFICIENT_BALANCE" if order.status == "rejected" else "NONE",
        "i": order.number,
        "l": num(event.qty),
        "z": num(order.filled_qty),
        "L": num(event.price),
        "n": "0",
        "N": None,
        "T": event.at_ms,
        "t": event.trade_id or -1,
        "I": event.at_ms,
        "w": order.is_open,
        "m": order.type == "limit",
        "M": False,
        "O": order.created_ms,
        "Z": num(order.avg_price * order.filled_qty),
        "Y": num(event.qty * event.price),
        "Q": "0",
        "W": order.created_ms,
        "V": "NONE",
    }


def _account_position(account: BinanceAccount, event: OrderEvent) -> dict[str, Any]:
    balances = [
        {"a": asset, "f": num(amount), "l": "0"} for asset, amount in account.balances().items()
    ]
    return {"e": "outboundAccountPosition", "E": event.at_ms, "u": event.at_ms, "B": balances}
