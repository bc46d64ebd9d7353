"""Which fills from a venue's order stream the engine already holds, so that none is booked twice.

nautilus 1.221 refuses a second fill for an order that cannot take it, but still applies it to
the strategy (its ledger, its position, the journal): the fill must be dropped before the engine
sees it. And it applies the fills a client hands over from a queue, but reconciles an order
status report at once. Four ways the same trade reaches the engine twice:
- the stream repeats a trade (its trade id is known);
- nautilus' in-flight check booked the order filled from its status at the venue, as an inferred
  fill under a trade id of its own, before the stream's fill came (more than the order's size);
- an order status report (the re-query after a reconnect) was handed to the engine, which will
  infer a fill for it, and the stream's fill of the same trade comes before that is applied: the
  stream's fills of the order, up to the filled quantity the report showed, are covered by it;
- the other way round: the stream's fill was passed on but still waits in the engine's queue
  when a report of it comes, which the engine would book again as an inferred fill. Such a
  report waits until the engine has applied the fills passed on (`ReportsAfterFills`).

`FillBook` keeps the account; both venues' execution clients consult it, and pass their start-up
fill reports through `unbooked`.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import Logger
from nautilus_trader.execution.reports import FillReport, OrderStatusReport
from nautilus_trader.model.identifiers import ClientOrderId, TradeId, VenueOrderId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import Order

Sent = tuple[TradeId, Quantity]
KEPT_REPORTS = 1_000  # orders whose reported fills are remembered (a late fill may follow)
REPORT_WAIT_S = 5.0  # longest an order report waits for the engine to apply the order's fills


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
        return order is not None and bool(_pending(order, self._sent.get(client_order_id, [])))

    def booked(self, order: Order) -> Decimal:
        """The quantity of `order` filled in the engine, or passed on to it and still queued."""
        return _booked(order, self._sent.get(order.client_order_id, []))

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
    if trade_id in order.trade_ids or any(t == trade_id for t, _ in _pending(order, sent)):
        return f"{order.client_order_id} already holds trade {trade_id}"
    booked = _booked(order, sent)
    if booked + last_qty.as_decimal() > order.quantity.as_decimal():
        return (
            f"{order.client_order_id} is {order.status_string()} with {booked} of "
            f"{order.quantity} filled (e.g. booked by the in-flight check before the stream's fill)"
        )
    return None


def unbooked(reports: list[FillReport], cache: Cache, log: Logger) -> list[FillReport]:
    """The start-up fill reports the engine still needs: each trade once (a venue's trade list
    can hold one twice, on overlapping pages), and none its order already holds or cannot take
    (`already_booked`: a restart re-reports the first, an in-flight check's inferred fill makes
    the second); says on `log` how many it left out."""
    fresh: dict[tuple[VenueOrderId, TradeId], FillReport] = {}
    for report in reports:
        key = (report.venue_order_id, report.trade_id)
        # A venue's trade list may name the venue's order id only.
        client_order_id = report.client_order_id or cache.client_order_id(report.venue_order_id)
        order = None if client_order_id is None else cache.order(client_order_id)
        booked = order is not None and already_booked(order, report.trade_id, report.last_qty, [])
        if key not in fresh and not booked:
            fresh[key] = report
    if len(fresh) < len(reports):
        log.info(f"{len(reports) - len(fresh)} fill report(s) already booked, left out")
    return list(fresh.values())


def _pending(order: Order, sent: list[Sent]) -> list[Sent]:
    return [(t, q) for t, q in sent if t not in order.trade_ids]


def _booked(order: Order, sent: list[Sent]) -> Decimal:
    return order.filled_qty.as_decimal() + sum(q.as_decimal() for _, q in _pending(order, sent))


def _settled(order: Order | None, sent: list[Sent]) -> bool:
    # The engine has applied every fill sent for a closed order: nothing left to compare with.
    return order is None or (order.is_closed and all(t in order.trade_ids for t, _ in sent))


class ReportsAfterFills:
    """Mixin for an execution client (before nautilus' class in its bases) whose `_fills` is a
    `FillBook`: an order status report waits until the engine has applied the stream fills of
    its order passed on before, so the engine never infers a fill it is about to apply."""

    _fills: FillBook

    def _send_order_status_report(self, report: OrderStatusReport) -> None:
        if self._fills.unapplied(report.client_order_id):
            self.create_task(self._report_once_applied(report))
        else:
            self._hand_over(report)

    async def _report_once_applied(self, report: OrderStatusReport) -> None:
        deadline = self._loop.time() + REPORT_WAIT_S
        while self._fills.unapplied(report.client_order_id) and self._loop.time() < deadline:
            await asyncio.sleep(0.01)
        self._hand_over(report)

    def _hand_over(self, report: OrderStatusReport) -> None:
        # The engine infers a fill from what the report shows filled beyond the order's fills.
        self._fills.reported(report.client_order_id, report.filled_qty)
        super()._send_order_status_report(report)
