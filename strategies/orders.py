"""A routed strategy's market orders: whether one may go out (`refusal`), the order itself
(`market_order`), its orders not yet closed (`OwnOrders`), which its next order nets against,
every strategy's on the instrument (`pending_orders`), which its cash must cover, and whether a
refusal repeated on every bar is news to log (`OncePerChange`)."""

import re
from collections.abc import Callable, Iterable
from decimal import Decimal

from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import MarketOrder

from strategies.venue_filters import below_minimum

OrderCheck = Callable[[InstrumentId, float, float], str | None]

_NUMBERS = re.compile(r"\d[\d,.]*")


def refusal(
    instrument: Instrument, qty: Decimal, price: float | None, check: OrderCheck | None
) -> tuple[str | None, bool]:
    """Why a market order of signed `qty` at about `price` may not go out (None: it may), and
    whether the venue's minimums are why: they are checked first, then the risk guard's `check`
    of the notional limits, when it is set and the price is known."""
    why = below_minimum(instrument, qty, price)
    if why is None and check is not None and price is not None:
        return check(instrument.id, float(qty), price), False
    return why, why is not None


class OncePerChange:
    """Whether a message that repeats on every bar (a refusal: `refusal`'s reason) is news: the
    first since `clear`, or one of another kind. Its numbers do not count: a refused quantity
    drifts a little from bar to bar, its reason stays the same."""

    def __init__(self) -> None:
        self._kind: str | None = None

    def news(self, message: str) -> bool:
        """Whether `message` is of another kind than the last one; it is the last one now."""
        kind = _NUMBERS.sub("#", message)
        news, self._kind = kind != self._kind, kind
        return news

    def clear(self) -> None:
        """Forget the last message (the order went out, or none is needed): the next is news."""
        self._kind = None


def market_order(
    factory: OrderFactory, instrument: Instrument, qty: Decimal, rule: str
) -> MarketOrder:
    """A market order for signed `qty` of `instrument`, tagged with `rule`, the rule behind it
    (the report's trade list and the journal show it)."""
    side = OrderSide.BUY if qty > 0 else OrderSide.SELL
    quantity = Quantity(abs(qty), instrument.size_precision)
    return factory.market(instrument.id, side, quantity, tags=[rule])


def pending_orders(cache, instrument_id: InstrumentId, strategy_id=None) -> list:
    """The open and in-flight orders on `instrument_id` in `cache`, each once: one strategy's
    (`strategy_id`), or every strategy's when it is None."""
    orders = cache.orders_open(instrument_id=instrument_id, strategy_id=strategy_id)
    inflight = cache.orders_inflight(instrument_id=instrument_id, strategy_id=strategy_id)
    if not inflight:
        return orders
    return list({o.client_order_id: o for o in orders + inflight}.values())


class OwnOrders:
    """One strategy's orders not yet closed, by client order id: those it had on start (from the
    cache), then each it submits until an event closes it. Its length is their number."""

    def __init__(self, orders: Iterable = ()) -> None:
        self._open = {o.client_order_id: o for o in orders}

    def __len__(self) -> int:
        return len(self._open)

    def add(self, order) -> None:
        """Track a submitted order."""
        self._open[order.client_order_id] = order

    def on_event(self, event) -> None:
        """Forget the event's order once it is closed (filled, canceled, rejected, ...)."""
        order = self._open.get(event.client_order_id)
        if order is not None and order.is_closed:
            del self._open[event.client_order_id]

    def in_flight(self) -> bool:
        """Whether one is SUBMITTED or PENDING_*: the venue has not answered, it may still fill."""
        return bool(self._open) and any(order.is_inflight for order in self._open.values())

    def expected(self, position: Decimal) -> Decimal:
        """Signed position after these orders fill, from the strategy's own `position` (kept
        from its fill events, not read from the cache's positions)."""
        qty = position
        for order in self._open.values():
            qty += order.leaves_qty.as_decimal() * (1 if order.is_buy else -1)
        return qty
