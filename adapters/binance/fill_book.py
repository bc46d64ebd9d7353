"""Which fills from Binance's user stream the engine already holds, so that none is booked twice.

nautilus 1.221 refuses a second fill for an order that cannot take it, but still applies it to
the strategy (its ledger, its position, the journal): the fill must be dropped before the engine
sees it. Three ways the same trade reaches the engine twice:
- the stream repeats a trade (its trade id is known);
- nautilus' in-flight check booked the order filled from its status at the venue, as an inferred
  fill under a trade id of its own, before the stream's fill came (more than the order's size);
- an order status report (the re-query after a reconnect) was handed to the engine, which will
  infer a fill for it, and the stream's fill of the same trade comes before that is applied: the
  stream's fills of the order, up to the filled quantity the report showed, are covered by it;
- the other way round: the stream's fill was passed on but still waits in the engine's event
  queue when a report of it comes, which the engine reconciles at once, inferring the fill. Such
  a report waits until the engine has applied the fills passed on (`unapplied`).
"""

from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal

from nautilus_trader.model.identifiers import ClientOrderId, TradeId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import Order

Sent = tuple[TradeId, Quantity]
KEPT_REPORTS = 1_000  # orders whose reported fills are remembered (a late fill may follow)


class FillBook:
    """The fills and order reports this client handed to the engine, by client order id;
    `order_of` finds an order in the cache."""

    def __init__(self, order_of: Callable[[ClientOrderId], Order | None]) -> None:
        self._order_of = order_of
        self._sent: dict[ClientOrderId, list[Sent]] = {}  # stream fills passed on
        # Per order: the filled quantity a report showed, and the stream's fills of the order.
        self._reported: OrderedDict[ClientOrderId, tuple[Decimal, dict[TradeId, Decimal]]] = (
            OrderedDict()
        )

    def reported(self, client_order_id: ClientOrderId | None, filled_qty: Quantity) -> None:
        """Note an order status report handed to the engine with `filled_qty` filled."""
        if client_order_id is None:
            return
        # The stream's fills already passed on count toward what the report shows.
        passed = {t: q.as_decimal() for t, q in self._sent.get(client_order_id, [])}
        filled, streamed = self._reported.pop(client_order_id, (Decimal(0), passed))
        self._reported[client_order_id] = (max(filled, filled_qty.as_decimal()), streamed)
        while len(self._reported) > KEPT_REPORTS:
            self._reported.popitem(last=False)

    def unapplied(self, client_order_id: ClientOrderId | None) -> bool:
        """Whether a stream fill of the order was passed on that the engine has not applied yet
        (its events wait in a queue; it reconciles a report at once)."""
        order = None if client_order_id is None else self._order_of(client_order_id)
        sent = self._sent.get(client_order_id, []) if order is not None else []
        return any(t not in order.trade_ids for t, _ in sent)

    def refusal(self, order: Order | None, trade_id: TradeId, last_qty: Quantity) -> str | None:
        """Why the stream's fill of `last_qty` under `trade_id` for `order` must not reach the
        engine; None when it must, and it is then counted as passed on."""
        # The engine applies fills from a queue: a repeat can come before the first is applied.
        self._sent = {c: s for c, s in self._sent.items() if not _settled(self._order_of(c), s)}
        if order is None:
            return None  # nautilus reports an order it does not know itself
        sent = self._sent.setdefault(order.client_order_id, [])
        why = already_booked(order, trade_id, last_qty, sent) or self._covered(
            order.client_order_id, trade_id, last_qty
        )
        if why is None:
            sent.append((trade_id, last_qty))
        return why

    def _covered(self, cid: ClientOrderId, trade_id: TradeId, last_qty: Quantity) -> str | None:
        if cid not in self._reported:
            return None
        filled, streamed = self._reported[cid]
        streamed[trade_id] = last_qty.as_decimal()
        if sum(streamed.values()) > filled:
            return None
        return (
            f"{cid} was reported {filled} filled by the venue's order status, which the engine "
            "books as an inferred fill"
        )


def already_booked(
    order: Order, trade_id: TradeId, last_qty: Quantity, sent: list[Sent]
) -> str | None:
    """Why `order` cannot take a fill of `last_qty` under `trade_id`, given the fills `sent` to
    the engine for it; None when it can."""
    pending = [(t, q) for t, q in sent if t not in order.trade_ids]
    if trade_id in order.trade_ids or any(t == trade_id for t, _ in pending):
        return f"{order.client_order_id} already holds trade {trade_id}"
    booked = order.filled_qty.as_decimal() + sum(q.as_decimal() for _, q in pending)
    if booked + last_qty.as_decimal() > order.quantity.as_decimal():
        return (
            f"{order.client_order_id} is {order.status_string()} with {booked} of "
            f"{order.quantity} filled (e.g. booked by the in-flight check before the stream's fill)"
        )
    return None


def _settled(order: Order | None, sent: list[Sent]) -> bool:
    # The engine has applied every fill sent for a closed order: nothing left to compare with.
    return order is None or (order.is_closed and all(t in order.trade_ids for t, _ in sent))
