"""The fake Alpaca's trading REST API (`/v2/account`, `/v2/orders`, `/v2/positions`,
`/v2/clock`, `/v2/assets`, `/v2/account/activities/FILL`) in Alpaca's JSON shapes, over a
shared `OrderBook`, and the `trade_updates` messages its order events become (a fill's late or
twice when the fault plan's `DelayedFill` or `DuplicatedFill` says so)."""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.orders import LIMIT, MARKET, Order, OrderBook, OrderEvent, OrderRefused
from tests.fakes.wire import StreamHub, deliver

TRADE_UPDATES = "trade_updates"
_NOT_FOUND = {"code": 40410000, "message": "order not found"}


def iso(ms: int) -> str:
    """Epoch milliseconds as Alpaca's RFC 3339 UTC timestamp."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def asset_id(symbol: str) -> str:
    """A stable asset UUID per symbol."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-alpaca/{symbol}"))


class AlpacaTrading:
    """Trading endpoints of the fake Alpaca. `authorized(headers)` checks the API keys;
    `crypto` lists the crypto symbols (all others are US equities)."""

    def __init__(
        self,
        book: OrderBook,
        hub: StreamHub,
        authorized: Callable[[Any], bool],
        crypto: tuple[str, ...],
        market_open: bool = True,
    ) -> None:
        self.book = book
        self.hub = hub
        self.authorized = authorized
        self.crypto = crypto
        self.market_open = market_open
        self._time_in_force: dict[str, str] = {}
        self.fills: list[dict[str, Any]] = []  # FILL account activities, oldest first
        book.listeners.append(self._publish)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v2/account", self._guard(self._account)),
            web.get("/v2/account/activities/FILL", self._guard(self._activities)),
            web.get("/v2/clock", self._guard(self._clock)),
            web.get("/v2/assets/{symbol:.+}", self._guard(self._asset)),
            web.post("/v2/orders", self._guard(self._submit)),
            web.get("/v2/orders", self._guard(self._orders)),
            web.delete("/v2/orders", self._guard(self._cancel_all)),
            web.get("/v2/orders:by_client_order_id", self._guard(self._by_client_id)),
            web.get("/v2/orders/{id}", self._guard(self._order)),
            web.delete("/v2/orders/{id}", self._guard(self._cancel)),
            web.get("/v2/positions", self._guard(self._positions)),
            web.delete("/v2/positions", self._guard(self._close_all)),
            web.get("/v2/positions/{symbol:.+}", self._guard(self._position)),
            web.delete("/v2/positions/{symbol:.+}", self._guard(self._close)),
        ]

    def order_json(self, order: Order) -> dict[str, Any]:
        """One order in Alpaca's shape."""
        filled = order.filled_qty > 0
        return {
            "id": order.id,
            "client_order_id": order.client_id,
            "created_at": iso(order.created_ms),
            "updated_at": iso(order.updated_ms),
            "submitted_at": iso(order.created_ms),
            "filled_at": iso(order.updated_ms) if order.status == "filled" else None,
            "canceled_at": iso(order.updated_ms) if order.status == "canceled" else None,
            "failed_at": iso(order.updated_ms) if order.status == "rejected" else None,
            "expired_at": None,
            "asset_id": asset_id(order.symbol),
            "symbol": order.symbol,
            "asset_class": self._asset_class(order.symbol),
            "qty": f"{order.qty:g}",
            "filled_qty": f"{order.filled_qty:g}",
            "filled_avg_price": f"{order.avg_price:g}" if filled else None,
            "order_class": "simple",
            "order_type": order.type,
            "type": order.type,
            "side": order.side,
            "time_in_force": self._time_in_force.get(order.id, "day"),
            "limit_price": None if order.limit_price is None else f"{order.limit_price:g}",
            "stop_price": None,
            "status": order.status,
            "extended_hours": False,
            "legs": None,
        }

    def _guard(self, handler):
        async def checked(request: web.Request) -> web.StreamResponse:
            if not self.authorized(request.headers):
                return web.json_response({"code": 40110000, "message": "unauthorized."}, status=401)
            return await handler(request)

        return checked

    def _asset_class(self, symbol: str) -> str:
        return "crypto" if symbol in self.crypto else "us_equity"

    def _publish(self, event: OrderEvent) -> None:
        data: dict[str, Any] = {
            "event": event.kind,
            "order": self.order_json(event.order),
            "timestamp": iso(event.at_ms),
        }
        if event.qty:
            position = self.book.position(event.order.symbol)
            execution_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{event.trade_id}"))
            data |= {
                "execution_id": execution_id,
                "price": f"{event.price:g}",
                "qty": f"{event.qty:g}",
                "position_qty": f"{position.qty:g}",
            }
            self.fills.append(_fill_activity(event, execution_id))  # booked at once
        message = json.dumps({"stream": TRADE_UPDATES, "data": data})
        # Alpaca's events can come late or be replayed: the fault plan says when.
        self.hub.report(lambda: self.hub.publish(TRADE_UPDATES, message), fill=bool(event.qty))

    async def _account(self, request: web.Request) -> web.Response:
        book = self.book
        values = [pos.qty * book.prices[symbol] for symbol, pos in book.positions.items()]
        equity = book.cash + sum(values)
        return web.json_response(
            {
                "id": asset_id("account"),
                "account_number": "PA0FAKE0001",
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "cash": f"{book.cash:.2f}",
                "buying_power": f"{max(book.cash, 0):.2f}",
                "non_marginable_buying_power": f"{max(book.cash, 0):.2f}",
                "equity": f"{equity:.2f}",
                "last_equity": f"{equity:.2f}",
                "portfolio_value": f"{equity:.2f}",
                "long_market_value": f"{sum(v for v in values if v > 0):.2f}",
                "short_market_value": f"{sum(v for v in values if v < 0):.2f}",
                "multiplier": "1",
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "trade_suspended_by_user": False,
                "shorting_enabled": True,
                "created_at": "2024-01-01T00:00:00Z",
            }
        )

    async def _activities(self, request: web.Request) -> web.Response:
        after = request.query.get("after")
        rows = [row for row in self.fills if after is None or row["transaction_time"] > after]
        if request.query.get("direction", "desc") == "desc":
            rows = rows[::-1]
        # `page_token`: the id of the last row of the page before.
        ids = [row["id"] for row in rows]
        token = request.query.get("page_token")
        start = ids.index(token) + 1 if token in ids else 0
        return web.json_response(rows[start : start + int(request.query.get("page_size", "100"))])

    async def _clock(self, request: web.Request) -> web.Response:
        now = datetime.fromtimestamp(self.book.clock() / 1000, UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return web.json_response(
            {
                "timestamp": now.isoformat(),
                "is_open": self.market_open,
                "next_open": (day + timedelta(days=1, hours=14, minutes=30)).isoformat(),
                "next_close": (day + timedelta(hours=21)).isoformat(),
            }
        )

    async def _asset(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        if symbol not in self.book.prices:
            return web.json_response({"code": 40410000, "message": "asset not found"}, status=404)
        crypto = symbol in self.crypto
        return web.json_response(
            {
                "id": asset_id(symbol),
                "class": self._asset_class(symbol),
                "exchange": "CRYPTO" if crypto else "NASDAQ",
                "symbol": symbol,
                "name": symbol,
                "status": "active",
                "tradable": True,
                "marginable": not crypto,
                "shortable": not crypto,
                "easy_to_borrow": not crypto,
                "fractionable": True,
                "min_order_size": "0.0001" if crypto else None,
                "min_trade_increment": "0.0001" if crypto else None,
                "price_increment": "0.01" if crypto else None,
            }
        )

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        symbol = body.get("symbol", "")
        price = self.book.prices.get(symbol)
        if price is None:
            return _error(422, 40010001, f'asset "{symbol}" not found')
        qty = float(body["qty"]) if body.get("qty") else float(body["notional"]) / price
        type_ = LIMIT if body.get("type") == "limit" else MARKET
        limit = body.get("limit_price")
        try:
            order = self.book.submit(
                symbol,
                body["side"],
                qty,
                type_,
                None if limit is None else float(limit),
                body.get("client_order_id"),
            )
        except OrderRefused as exc:
            return _error(403, 40310000, exc.reason)
        self._time_in_force[order.id] = body.get("time_in_force", "day")
        answer = web.json_response(self.order_json(order))
        lost = self.book.faults.lost_response()
        return await deliver(request, lost, answer, _lost_error)

    async def _orders(self, request: web.Request) -> web.Response:
        query = request.query
        status = query.get("status", "open")
        symbols = [s for s in query.get("symbols", "").split(",") if s]
        after, until = _instant(query.get("after")), _instant(query.get("until"))
        chosen = [
            order
            for order in sorted(self.book.orders.values(), key=_submitted)  # Alpaca's order
            if status == "all" or order.is_open == (status == "open")
            if not symbols or order.symbol in symbols
            # Alpaca's `after` and `until` both exclude the instant they name.
            if after is None or _submitted(order) > after
            if until is None or _submitted(order) < until
        ]
        if query.get("direction", "desc") == "desc":
            chosen.reverse()
        limit = min(int(query.get("limit", "50")), 500)  # Alpaca's default and largest page
        return web.json_response([self.order_json(order) for order in chosen[:limit]])

    async def _order(self, request: web.Request) -> web.Response:
        order = self.book.orders.get(request.match_info["id"])
        if order is None:
            return web.json_response(_NOT_FOUND, status=404)
        return web.json_response(self.order_json(order))

    async def _by_client_id(self, request: web.Request) -> web.Response:
        order = self.book.find(request.query.get("client_order_id", ""))
        if order is None:
            return web.json_response(_NOT_FOUND, status=404)
        return web.json_response(self.order_json(order))

    async def _cancel(self, request: web.Request) -> web.Response:
        order_id = request.match_info["id"]
        if order_id not in self.book.orders:
            return web.json_response(_NOT_FOUND, status=404)
        try:
            self.book.cancel(order_id)
        except ValueError:
            return _error(422, 42210000, "order is not cancelable")
        return web.Response(status=204)

    async def _cancel_all(self, request: web.Request) -> web.Response:
        canceled = self.book.cancel_all()
        rows = [{"id": o.id, "status": 200, "body": self.order_json(o)} for o in canceled]
        return web.json_response(rows, status=207)

    async def _positions(self, request: web.Request) -> web.Response:
        symbols = sorted(self.book.positions)
        return web.json_response([self._position_json(symbol) for symbol in symbols])

    async def _position(self, request: web.Request) -> web.Response:
        wanted = request.match_info["symbol"]
        for symbol in self.book.positions:
            if wanted in (symbol, symbol.replace("/", "")):
                return web.json_response(self._position_json(symbol))
        return _error(404, 40410000, "position does not exist")

    async def _close(self, request: web.Request) -> web.Response:
        wanted = request.match_info["symbol"]
        symbol = next((s for s in self.book.positions if wanted in (s, s.replace("/", ""))), None)
        if symbol is None:
            return _error(404, 40410000, "position does not exist")
        position = self.book.positions[symbol]
        try:
            order = self.book.submit(
                symbol, "sell" if position.qty > 0 else "buy", abs(position.qty)
            )
        except OrderRefused as exc:
            return _error(403, 40310000, exc.reason)
        return web.json_response(self.order_json(order))

    async def _close_all(self, request: web.Request) -> web.Response:
        rows = []
        self.book.cancel_all()
        for symbol, position in list(self.book.positions.items()):
            side = "sell" if position.qty > 0 else "buy"
            try:
                order = self.book.submit(symbol, side, abs(position.qty))
            except OrderRefused as exc:
                rows.append({"symbol": symbol, "status": 403, "body": {"message": exc.reason}})
                continue
            rows.append({"symbol": symbol, "status": 200, "body": self.order_json(order)})
        return web.json_response(rows, status=207)

    def _position_json(self, symbol: str) -> dict[str, Any]:
        position = self.book.positions[symbol]
        price = self.book.prices[symbol]
        crypto = symbol in self.crypto
        cost = position.avg_price * position.qty
        return {
            "asset_id": asset_id(symbol),
            "symbol": symbol.replace("/", ""),  # Alpaca lists crypto positions as "BTCUSD"
            "exchange": "CRYPTO" if crypto else "NASDAQ",
            "asset_class": self._asset_class(symbol),
            "avg_entry_price": f"{position.avg_price:g}",
            "qty": f"{position.qty:g}",
            "qty_available": f"{position.qty:g}",
            "side": "long" if position.qty > 0 else "short",
            "market_value": f"{position.qty * price:.2f}",
            "cost_basis": f"{cost:.2f}",
            "unrealized_pl": f"{position.qty * price - cost:.2f}",
            "current_price": f"{price:g}",
        }


def _fill_activity(event: OrderEvent, execution_id: str) -> dict[str, Any]:
    order = event.order
    return {
        "id": f"{iso(event.at_ms).replace('-', '').replace(':', '')}::{execution_id}",
        "activity_type": "FILL",
        "transaction_time": iso(event.at_ms),
        "type": event.kind,
        "price": f"{event.price:g}",
        "qty": f"{event.qty:g}",
        "side": order.side,
        "symbol": order.symbol,
        "leaves_qty": f"{order.leaves_qty:g}",
        "order_id": order.id,
        "cum_qty": f"{order.filled_qty:g}",
        "order_status": order.status,
    }


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _submitted(order: Order) -> datetime:
    return datetime.fromtimestamp(order.created_ms / 1000, UTC)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _lost_error(status: int) -> web.Response:
    return _error(status, 50010000, "internal server error occurred")
