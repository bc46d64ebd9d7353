"""The fake Binance's signed trading REST API over a shared `OrderBook`: orders, open orders,
order history and trades (which reconciliation reads at start), account and listen keys for
spot (`/api/v3`) and USDT-M futures (`/fapi`), plus the futures endpoints nautilus' adapter
calls at start (position risk, position mode, leverage, margin type, symbol config, commission
rate).

As at Binance, the order response carries no fills: they arrive on the user-data stream."""

import secrets
from functools import partial
from typing import Any

from aiohttp import web

from tests.fakes.binance_auth import BinanceAuth, Params, binance_error
from tests.fakes.binance_symbols import FUTURES_MIN_NOTIONAL
from tests.fakes.orders import BUY, LIMIT, MARKET, Order, OrderBook, OrderEvent, OrderRefused
from tests.fakes.wire import deliver

STATUS = {
    "new": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "rejected": "REJECTED",
}
_UNKNOWN_ORDER = (-2013, "Order does not exist.")


def num(value: float) -> str:
    """A decimal string as Binance sends numbers."""
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


class BinanceAccount:
    """One Binance account (spot or USDT-M futures) of the fake: its order book, listen keys
    and REST routes. `quote` is the settlement asset (USDT); `symbols` maps symbol to
    (base, quote)."""

    def __init__(
        self,
        futures: bool,
        book: OrderBook,
        auth: BinanceAuth,
        symbols: dict[str, tuple[str, str]],
        quote: str = "USDT",
    ) -> None:
        self.futures = futures
        self.book = book
        self.auth = auth
        self.symbols = symbols
        self.quote = quote
        self.listen_keys: dict[str, float] = {}  # key -> last keep-alive (venue clock, ms)
        self.leverage: dict[str, int] = {}
        self.trades: list[OrderEvent] = []  # every fill, oldest first
        book.listeners.append(self._record_trade)

    def routes(self) -> list[web.RouteDef]:
        signed, keyed = self.auth.signed, self.auth.keyed
        v1 = "/fapi/v1" if self.futures else "/api/v3"
        listen = f"{v1}/listenKey" if self.futures else f"{v1}/userDataStream"
        cancel_all = f"{v1}/allOpenOrders" if self.futures else f"{v1}/openOrders"
        trades = f"{v1}/userTrades" if self.futures else f"{v1}/myTrades"
        table = [
            web.post(f"{v1}/order", signed(self._submit)),
            web.get(f"{v1}/order", signed(self._query)),
            web.get(f"{v1}/allOrders", signed(self._all_orders)),
            web.get(trades, signed(self._trades)),
            web.delete(f"{v1}/order", signed(self._cancel)),
            web.get(f"{v1}/openOrders", signed(self._open_orders)),
            web.delete(cancel_all, signed(self._cancel_all)),
            web.post(listen, keyed(self._new_listen_key)),
            web.put(listen, keyed(self._keep_alive)),
            web.delete(listen, keyed(self._close_listen_key)),
        ]
        if not self.futures:
            return [*table, web.get(f"{v1}/account", signed(self._spot_account))]
        constant = {
            "positionSide/dual": {"dualSidePosition": False},
            "commissionRate": {
                "symbol": "",
                "makerCommissionRate": "0",
                "takerCommissionRate": "0",
            },
            "marginType": {"code": 200, "msg": "success"},
        }
        return [
            *table,
            *[web.get(f"/fapi/{v}/account", signed(self._futures_account)) for v in ("v2", "v3")],
            *[
                web.get(f"/fapi/{v}/positionRisk", signed(self._position_risk))
                for v in ("v2", "v3")
            ],
            web.get(f"{v1}/symbolConfig", signed(self._symbol_config)),
            web.post(f"{v1}/leverage", signed(self._set_leverage)),
            *[
                method(f"{v1}/{path}", signed(partial(_constant, body)))
                for path, body in constant.items()
                for method in (web.get, web.post)
            ],
        ]

    def order_json(self, order: Order) -> dict[str, Any]:
        """One order as Binance's order endpoints show it."""
        cum_quote = num(order.avg_price * order.filled_qty)
        body = {
            "symbol": order.symbol,
            "orderId": order.number,
            "clientOrderId": order.client_id,
            "price": num(order.limit_price or 0),
            "origQty": num(order.qty),
            "executedQty": num(order.filled_qty),
            "status": STATUS[order.status],
            "timeInForce": "GTC",
            "type": order.type.upper(),
            "side": order.side.upper(),
            "stopPrice": "0",
            "time": order.created_ms,
            "updateTime": order.updated_ms,
        }
        if self.futures:
            return body | {
                "avgPrice": num(order.avg_price),
                "cumQty": num(order.filled_qty),
                "cumQuote": cum_quote,
                "reduceOnly": False,
                "closePosition": False,
                "positionSide": "BOTH",
                "workingType": "CONTRACT_PRICE",
                "priceProtect": False,
                "origType": order.type.upper(),
                "goodTillDate": 0,
            }
        return body | {"orderListId": -1, "cummulativeQuoteQty": cum_quote, "isWorking": True}

    def issue_listen_key(self) -> str:
        """A new listen key for this account's user-data stream."""
        key = secrets.token_urlsafe(45)[:60]
        self.listen_keys[key] = self.auth.clock_ms()
        return key

    def expired_keys(self, ttl_s: float) -> list[str]:
        """Forget and return the listen keys not kept alive for `ttl_s` seconds."""
        now = self.auth.clock_ms()
        stale = [key for key, seen in self.listen_keys.items() if now - seen > ttl_s * 1000]
        for key in stale:
            del self.listen_keys[key]
        return stale

    async def _submit(self, request: web.Request, params: Params) -> web.Response:
        symbol = params.get("symbol", "")
        if symbol not in self.symbols:
            return binance_error(400, -1121, "Invalid symbol.")
        side = params.get("side", "").lower()
        qty = float(params.get("quantity", "0"))
        type_ = LIMIT if params.get("type") == "LIMIT" else MARKET
        price = float(params["price"]) if "price" in params else None
        try:
            self._check_spot_holdings(symbol, side, qty)
            self._check_min_notional(symbol, qty, price, params.get("reduceOnly") == "true")
            order = self.book.submit(
                symbol, side, qty, type_, price, params.get("newClientOrderId")
            )
        except OrderRefused as exc:
            return binance_error(400, exc.code, exc.reason)
        # The answer shows the order as accepted; fills only come on the user stream.
        status = "REJECTED" if order.status == "rejected" else "NEW"
        answer = self.order_json(order) | {"status": status, "executedQty": "0"}
        answer |= {"transactTime": order.created_ms}
        lost = self.book.faults.lost_response()
        return await deliver(request, lost, web.json_response(answer), _lost_error)

    def _check_spot_holdings(self, symbol: str, side: str, qty: float) -> None:
        if not self.futures and side != BUY and self.book.position(symbol).qty < qty:
            raise OrderRefused("Account has insufficient balance for requested action.", -2010)

    def _check_min_notional(
        self, symbol: str, qty: float, price: float | None, reduce_only: bool
    ) -> None:
        # USDT-M futures' MIN_NOTIONAL filter (binance_symbols: 100 USDT), reduce-only exempt.
        notional = qty * (price or self.book.prices.get(symbol, 0.0))
        if self.futures and not reduce_only and 0 < notional < FUTURES_MIN_NOTIONAL:
            reason = (
                f"Order's notional must be no smaller than {FUTURES_MIN_NOTIONAL:g} "
                "(unless you choose reduce only)."
            )
            raise OrderRefused(reason, -4164)

    def _find(self, params: Params) -> Order | None:
        key = params.get("orderId") or params.get("origClientOrderId") or ""
        order = self.book.find(key)
        return order if order is not None and order.symbol == params.get("symbol") else None

    async def _query(self, request: web.Request, params: Params) -> web.Response:
        order = self._find(params)
        if order is None:
            return binance_error(400, *_UNKNOWN_ORDER)
        return web.json_response(self.order_json(order))

    async def _all_orders(self, request: web.Request, params: Params) -> web.Response:
        symbol = params.get("symbol")
        orders = [order for order in self.book.orders.values() if order.symbol == symbol]
        return web.json_response([self.order_json(order) for order in orders])

    async def _trades(self, request: web.Request, params: Params) -> web.Response:
        rows = [self.trade_json(t) for t in self.trades if t.order.symbol == params.get("symbol")]
        return web.json_response(rows)

    def trade_json(self, trade: OrderEvent) -> dict[str, Any]:
        """One fill as Binance's trade list shows it (fees are zero at the fake)."""
        buyer = trade.order.side == BUY
        body = {
            "symbol": trade.order.symbol,
            "id": trade.trade_id,
            "orderId": trade.order.number,
            "price": num(trade.price),
            "qty": num(trade.qty),
            "quoteQty": num(trade.price * trade.qty),
            "commission": "0",
            "commissionAsset": self.quote,
            "time": trade.at_ms,
        }
        if self.futures:
            side = {"side": trade.order.side.upper(), "positionSide": "BOTH"}
            return body | side | {"buyer": buyer, "maker": False, "realizedPnl": "0"}
        return body | {"orderListId": -1, "isBuyer": buyer, "isMaker": False, "isBestMatch": True}

    def _record_trade(self, event: OrderEvent) -> None:
        if event.qty:
            self.trades.append(event)

    async def _cancel(self, request: web.Request, params: Params) -> web.Response:
        order = self._find(params)
        if order is None or not order.is_open:
            return binance_error(400, -2011, "Unknown order sent.")
        self.book.cancel(order.id)
        return web.json_response(self.order_json(order))

    async def _open_orders(self, request: web.Request, params: Params) -> web.Response:
        orders = self.book.open_orders(params.get("symbol"))
        return web.json_response([self.order_json(order) for order in orders])

    async def _cancel_all(self, request: web.Request, params: Params) -> web.Response:
        canceled = self.book.cancel_all(params.get("symbol"))
        if self.futures:
            return web.json_response(
                {"code": 200, "msg": "The operation of cancel all open order is done."}
            )
        return web.json_response([self.order_json(order) for order in canceled])

    async def _new_listen_key(self, request: web.Request, params: Params) -> web.Response:
        return web.json_response({"listenKey": self.issue_listen_key()})

    async def _keep_alive(self, request: web.Request, params: Params) -> web.Response:
        key = params.get("listenKey") or next(iter(self.listen_keys), "")
        if key not in self.listen_keys:
            return binance_error(400, -1125, "This listenKey does not exist.")
        self.listen_keys[key] = self.auth.clock_ms()
        return web.json_response({"listenKey": key} if self.futures else {})

    async def _close_listen_key(self, request: web.Request, params: Params) -> web.Response:
        self.listen_keys.pop(params.get("listenKey", ""), None)
        return web.json_response({})

    def balances(self) -> dict[str, float]:
        """Asset balances: the quote asset's cash, and (spot) each base asset's holding."""
        held = {self.quote: self.book.cash}
        if not self.futures:
            for symbol, position in self.book.positions.items():
                held[self.symbols[symbol][0]] = position.qty
        return held

    async def _spot_account(self, request: web.Request, params: Params) -> web.Response:
        balances = [
            {"asset": asset, "free": num(amount), "locked": "0"}
            for asset, amount in self.balances().items()
        ]
        return web.json_response(
            {
                "makerCommission": 0,
                "takerCommission": 0,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "updateTime": self.auth.clock_ms(),
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
            }
        )

    async def _futures_account(self, request: web.Request, params: Params) -> web.Response:
        cash = num(self.book.cash)
        asset = {
            "asset": self.quote,
            "walletBalance": cash,
            "unrealizedProfit": "0",
            "marginBalance": cash,
            "maintMargin": "0",
            "initialMargin": "0",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "crossWalletBalance": cash,
            "crossUnPnl": "0",
            "availableBalance": cash,
            "maxWithdrawAmount": cash,
            "marginAvailable": True,
            "updateTime": self.auth.clock_ms(),
        }
        return web.json_response(
            {
                "feeTier": 0,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "updateTime": self.auth.clock_ms(),
                "totalWalletBalance": cash,
                "availableBalance": cash,
                "assets": [asset],
                "positions": [],
            }
        )

    async def _position_risk(self, request: web.Request, params: Params) -> web.Response:
        wanted = params.get("symbol")
        rows = [self._position_row(symbol) for symbol in self.symbols if wanted in (None, symbol)]
        return web.json_response(rows)

    def _position_row(self, symbol: str) -> dict[str, Any]:
        position = self.book.position(symbol)
        price = self.book.prices.get(symbol, 0.0)
        return {
            "symbol": symbol,
            "positionSide": "BOTH",
            "positionAmt": num(position.qty),
            "entryPrice": num(position.avg_price),
            "breakEvenPrice": num(position.avg_price),
            "markPrice": num(price),
            "unRealizedProfit": num((price - position.avg_price) * position.qty),
            "liquidationPrice": "0",
            "isolatedMargin": "0",
            "notional": num(price * position.qty),
            "marginAsset": self.quote,
            "updateTime": self.book.clock(),
        }

    async def _symbol_config(self, request: web.Request, params: Params) -> web.Response:
        rows = [
            {
                "symbol": symbol,
                "marginType": "CROSSED",
                "isAutoAddMargin": False,
                "leverage": self.leverage.get(symbol, 1),
                "maxNotionalValue": "1000000",
            }
            for symbol in self.symbols
        ]
        return web.json_response(rows)

    async def _set_leverage(self, request: web.Request, params: Params) -> web.Response:
        symbol, leverage = params.get("symbol", ""), int(params.get("leverage", "1"))
        self.leverage[symbol] = leverage
        body = {"symbol": symbol, "leverage": leverage, "maxNotionalValue": "1000000"}
        return web.json_response(body)


async def _constant(body: dict[str, Any], request: web.Request, params: Params) -> web.Response:
    return web.json_response(
        body | ({"symbol": params.get("symbol", "")} if "symbol" in body else {})
    )


def _lost_error(status: int) -> web.Response:
    return binance_error(status, -1001, "Internal error; unable to process your request.")
