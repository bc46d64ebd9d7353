"""The venue clients' fill book: a trade reaches the engine once, whichever way it comes."""

from dataclasses import dataclass, field

from nautilus_trader.model.identifiers import ClientOrderId, TradeId, VenueOrderId
from nautilus_trader.model.objects import Quantity

from adapters.fill_book import FillBook, unbooked

CID = ClientOrderId("O-1")


@dataclass
class _Order:
    # The order fields the book reads, as the engine's cache holds them.
    quantity: Quantity
    filled_qty: Quantity = field(default_factory=lambda: Quantity.from_str("0"))
    trade_ids: list[TradeId] = field(default_factory=list)
    client_order_id: ClientOrderId = CID

    @property
    def is_closed(self) -> bool:
        return self.filled_qty == self.quantity

    def status_string(self) -> str:
        return "FILLED" if self.is_closed else "ACCEPTED"

    def apply(self, trade: str, qty: str) -> None:
        self.trade_ids.append(TradeId(trade))
        self.filled_qty = Quantity.from_str(
            str(self.filled_qty.as_decimal() + _q(qty).as_decimal())
        )


def _q(text: str) -> Quantity:
    return Quantity.from_str(text)


def _book(order: _Order) -> FillBook:
    return FillBook(lambda cid: order if cid == order.client_order_id else None)


def test_a_stream_fill_covered_by_a_report_not_yet_applied_is_dropped():
    # Arrange: the re-query after a reconnect hands the engine a report of the order filled;
    # the engine will infer that fill, but has not applied it when the stream's fill comes.
    order = _Order(_q("2"))
    book = _book(order)
    book.reported(CID, _q("2"))

    # Act
    why = book.refusal(order, TradeId("107"), _q("2"))

    # Assert
    assert why is not None and "reported 2 filled" in why


def test_a_partial_report_covers_only_the_fills_it_showed():
    # Arrange: the report showed 1 of 2 filled (inferred, then applied under its own id)
    order = _Order(_q("2"))
    book = _book(order)
    book.reported(CID, _q("1"))
    order.apply("inferred-uuid", "1")

    # Act: the stream's own fill of that first trade, then of the rest
    first = book.refusal(order, TradeId("1"), _q("1"))
    rest = book.refusal(order, TradeId("2"), _q("1"))

    # Assert: the first is the report's, the rest is new
    assert first is not None
    assert rest is None


def test_without_a_report_fills_pass_once_and_a_repeat_or_an_overfill_is_dropped():
    order = _Order(_q("2"))
    book = _book(order)

    first = book.refusal(order, TradeId("1"), _q("1"))
    repeat = book.refusal(order, TradeId("1"), _q("1"))  # before the engine applied it
    order.apply("1", "1")
    second = book.refusal(order, TradeId("2"), _q("1"))
    order.apply("2", "1")
    over = book.refusal(order, TradeId("3"), _q("1"))

    assert first is None and second is None
    assert "already holds trade 1" in repeat
    assert "FILLED with 2 of 2 filled" in over


def test_a_report_of_fills_the_stream_already_passed_covers_nothing_more():
    # Arrange: the stream's fill came first and was applied; the report then shows it
    order = _Order(_q("2"))
    book = _book(order)
    assert book.refusal(order, TradeId("1"), _q("1")) is None
    order.apply("1", "1")
    book.reported(CID, _q("1"))

    # Act
    rest = book.refusal(order, TradeId("2"), _q("1"))

    # Assert
    assert rest is None


def test_a_fill_passed_on_is_unapplied_until_the_order_holds_it():
    order = _Order(_q("2"))
    book = _book(order)
    untouched = book.unapplied(CID)

    assert book.refusal(order, TradeId("1"), _q("2")) is None
    queued = book.unapplied(CID)
    order.apply("1", "2")

    assert (untouched, queued, book.unapplied(CID)) == (False, True, False)
    assert book.unapplied(None) is False


@dataclass
class _Report:
    # The fill report fields `unbooked` reads.
    trade_id: TradeId
    last_qty: Quantity
    venue_order_id: VenueOrderId = VenueOrderId("V-1")
    client_order_id: ClientOrderId | None = None  # Binance's trade list names none


class _Cache:
    def __init__(self, order: _Order) -> None:
        self._order = order

    def client_order_id(self, venue_order_id: VenueOrderId) -> ClientOrderId | None:
        return CID if venue_order_id == VenueOrderId("V-1") else None

    def order(self, client_order_id: ClientOrderId) -> _Order | None:
        return self._order if client_order_id == CID else None


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, line: str) -> None:
        self.lines.append(line)


def test_start_up_fill_reports_keep_each_trade_the_engine_does_not_hold_once():
    # Arrange: an order of 3 holds trade 1; the venue's trade list re-reports it, repeats trade
    # 2 (overlapping pages) and holds a trade of an order the cache lacks.
    order = _Order(_q("3"))
    order.apply("1", "1")
    reports = [
        _Report(TradeId("1"), _q("1")),
        _Report(TradeId("2"), _q("1")),
        _Report(TradeId("2"), _q("1")),
        _Report(TradeId("9"), _q("5"), VenueOrderId("V-other")),
    ]
    log = _Log()

    # Act
    fresh = unbooked(reports, _Cache(order), log)

    # Assert
    assert [r.trade_id.value for r in fresh] == ["2", "9"]
    assert log.lines == ["2 fill report(s) already booked, left out"]


def test_a_start_up_fill_report_the_order_cannot_take_is_left_out():
    # Arrange: the in-flight check booked the whole order filled under its own trade id.
    order = _Order(_q("2"))
    order.apply("inferred-uuid", "2")

    # Act
    fresh = unbooked([_Report(TradeId("7"), _q("2"))], _Cache(order), _Log())

    # Assert
    assert fresh == []
