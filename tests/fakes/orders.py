"""A venue-neutral order book for the fake venues: it accepts or refuses orders, fills market
orders at the current price, rests limit orders until the price crosses them, fills partially
when the fault plan says so, cancels, and keeps per-symbol positions and a cash balance.

The fakes translate its `OrderEvent`s into their own wire formats (Alpaca `trade_updates`,
Binance `executionReport` / `ORDER_TRADE_UPDATE`). Fees are zero. In a cash book (spot, Alpaca)
cash moves by the full notional of every fill; in a margin book (futures) the wallet balance moves
only by realised PnL, and an order that adds exposure needs its notional in the wallet
(leverage 1).
"""

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from tests.fakes.faults import FaultPlan

BUY, SELL = "buy", "sell"
MARKET, LIMIT = "market", "limit"
OPEN_STATUSES = ("new", "partially_filled")


def wall_ms() -> int:
    """Milliseconds since the epoch, now."""
    return time.time_ns() // 1_000_000


class OrderRefused(Exception):
    """The venue refuses an order at submit; `code` is Binance's error code for it."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class Order:
    """One order as the venue holds it. `qty` is always positive; `side` says the direction."""

    id: str
    number: int  # numeric id, for venues that use one (Binance orderId)
    client_id: str
    symbol: str
    side: str
    type: str
    qty: float
    limit_price: float | None
    created_ms: int
    updated_ms: int
    status: str = "new"  # new, partially_filled, filled, canceled, rejected
    filled_qty: float = 0.0
    avg_price: float = 0.0
    reason: str = ""
    first_fill_fraction: float = 1.0  # < 1 when the fault plan asks for a partial fill

    @property
    def leaves_qty(self) -> float:
        """The quantity still to fill."""
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        """Whether the order can still fill or be canceled."""
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class OrderEvent:
    """A change to one order: `kind` is new, partial_fill, fill, canceled or rejected. `order`
    is a snapshot taken right after the change; `qty`/`price` are the last fill's."""

    kind: str
    order: Order
    at_ms: int
    qty: float = 0.0
    price: float = 0.0
    trade_id: int = 0


@dataclass
class Position:
    """A signed position in one symbol (negative is short) and its average entry price."""

    qty: float = 0.0
    avg_price: float = 0.0


class OrderBook:
    """The orders, positions and cash of one fake account. Every change is reported to each
    callable in `listeners`, in order, before the call that caused it returns."""

    def __init__(
        self,
        faults: FaultPlan,
        cash: float,
        clock: Callable[[], int] = wall_ms,
        margin: bool = False,
    ) -> None:
        self.faults = faults
        self.cash = cash
        self.margin = margin
        self.clock = clock
        self.prices: dict[str, float] = {}
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.listeners: list[Callable[[OrderEvent], None]] = []
        self._numbers = itertools.count(1)
        self._trade_ids = itertools.count(1)

    def submit(
        self,
        symbol: str,
        side: str,
        qty: float,
        type_: str = MARKET,
        limit_price: float | None = None,
        client_id: str | None = None,
    ) -> Order:
        """Accept an order and fill what the current price allows. Raises `OrderRefused` when
        the fault plan or the cash balance refuses it."""
        if symbol not in self.prices:
            raise OrderRefused(f"no price for symbol {symbol}", -1121)
        reject = self.faults.reject(symbol)
        if reject is not None and not reject.after_accept:
            raise OrderRefused(reject.reason, reject.code)
        price = limit_price if type_ == LIMIT and limit_price is not None else self.prices[symbol]
        if self._needs_funds(symbol, side, qty) and qty * price > self.cash:
            raise OrderRefused("insufficient balance", -2010)
        order = self._new_order(symbol, side, qty, type_, limit_price, client_id)
        self._emit("new", order)
        if reject is not None:
            self._close(order, "rejected", reject.reason)
            return order
        self._match(order)
        return order

    def set_price(self, symbol: str, price: float) -> None:
        """Move `symbol`'s price; open orders that it crosses fill."""
        self.prices[symbol] = price
        for order in list(self.orders.values()):
            if order.symbol == symbol and order.is_open:
                self._match(order, resting=True)

    def cancel(self, order_id: str) -> Order:
        """Cancel an open order by id or client id. Raises KeyError when unknown and
        ValueError when it is no longer open."""
        order = self.find(order_id)
        if order is None:
            raise KeyError(order_id)
        if not order.is_open:
            raise ValueError(f"order {order_id} is {order.status}")
        self._close(order, "canceled")
        return order

    def cancel_all(self, symbol: str | None = None) -> list[Order]:
        """Cancel every open order (of `symbol` when given); returns those canceled."""
        chosen = self.open_orders(symbol)
        for order in chosen:
            self._close(order, "canceled")
        return chosen

    def find(self, key: str) -> Order | None:
        """The order with this id, numeric id or client id."""
        if key in self.orders:
            return self.orders[key]
        for order in self.orders.values():
            if key in (order.client_id, str(order.number)):
                return order
        return None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Open orders, oldest first."""
        return [
            order
            for order in self.orders.values()
            if order.is_open and symbol in (None, order.symbol)
        ]

    def position(self, symbol: str) -> Position:
        """The position in `symbol` (flat when never traded)."""
        return self.positions.get(symbol, Position())

    def _new_order(
        self,
        symbol: str,
        side: str,
        qty: float,
        type_: str,
        limit_price: float | None,
        client_id: str | None,
    ) -> Order:
        now = self.clock()
        number = next(self._numbers)
        partial = self.faults.partial_fill(symbol)
        order = Order(
            id=str(uuid.uuid4()),
            number=number,
            client_id=client_id or f"fake-{number}",
            symbol=symbol,
            side=side,
            type=type_,
            qty=qty,
            limit_price=limit_price,
            created_ms=now,
            updated_ms=now,
            first_fill_fraction=1.0 if partial is None else partial.fraction,
        )
        self.orders[order.id] = order
        return order

    def _match(self, order: Order, resting: bool = False) -> None:
        price = self.prices[order.symbol]
        limit = order.limit_price
        if order.type == LIMIT and limit is not None:
            if not (price <= limit if order.side == BUY else price >= limit):
                return
            # A marketable limit fills at the better market price; a resting one that the
            # price moves through fills at its limit.
            better = min(price, limit) if order.side == BUY else max(price, limit)
            price = limit if resting else better
        qty = order.leaves_qty
        if order.filled_qty == 0 and order.first_fill_fraction < 1:
            qty = order.qty * order.first_fill_fraction
        self._fill(order, qty, price)

    def _needs_funds(self, symbol: str, side: str, qty: float) -> bool:
        # Cash books pay for buys; margin books for whatever adds to the position's size.
        if not self.margin:
            return side == BUY
        held = self.position(symbol).qty
        after = held + (qty if side == BUY else -qty)
        return abs(after) > abs(held)

    def _fill(self, order: Order, qty: float, price: float) -> None:
        order.avg_price = (order.avg_price * order.filled_qty + price * qty) / (
            order.filled_qty + qty
        )
        order.filled_qty += qty
        done = order.leaves_qty <= 1e-12
        order.status = "filled" if done else "partially_filled"
        order.updated_ms = self.clock()
        signed = qty if order.side == BUY else -qty
        before = self.position(order.symbol)
        self.cash += _realised(before, signed, price) if self.margin else -signed * price
        moved = _moved(before, signed, price)
        if moved.qty:
            self.positions[order.symbol] = moved
        else:
            self.positions.pop(order.symbol, None)  # flat positions are not listed
        self._emit("fill" if done else "partial_fill", order, qty, price, next(self._trade_ids))

    def _close(self, order: Order, status: str, reason: str = "") -> None:
        order.status = status
        order.reason = reason
        order.updated_ms = self.clock()
        self._emit(status, order)

    def _emit(
        self, kind: str, order: Order, qty: float = 0.0, price: float = 0.0, trade_id: int = 0
    ) -> None:
        event = OrderEvent(kind, replace(order), order.updated_ms, qty, price, trade_id)
        for listener in self.listeners:
            listener(event)


def _realised(position: Position, signed_qty: float, price: float) -> float:
    """PnL of the part of `position` that a fill of `signed_qty` at `price` closes."""
    if position.qty == 0 or (position.qty > 0) == (signed_qty > 0):
        return 0.0
    closed = min(abs(signed_qty), abs(position.qty))
    return closed * (price - position.avg_price) * (1.0 if position.qty > 0 else -1.0)


def _moved(position: Position, signed_qty: float, price: float) -> Position:
    qty = position.qty + signed_qty
    if abs(qty) < 1e-12:
        return Position()
    if position.qty == 0 or (position.qty > 0) != (qty > 0):
        return Position(qty, price)  # opened, or flipped through flat
    if abs(qty) > abs(position.qty):
        cost = position.avg_price * abs(position.qty) + price * abs(signed_qty)
        return Position(qty, cost / abs(qty))
    return Position(qty, position.avg_price)  # reduced: the entry price stays
