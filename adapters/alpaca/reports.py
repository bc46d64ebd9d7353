"""Alpaca orders, fills and positions as nautilus execution reports (pure functions, no I/O),
and nautilus orders as alpaca-py order requests."""

from decimal import Decimal
from typing import Any

import pandas as pd
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import TimeInForce as AlpacaTif
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import Position as AlpacaPosition
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, OrderRequest
from nautilus_trader.core.datetime import dt_to_unix_nanos
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.reports import FillReport, OrderStatusReport, PositionStatusReport
from nautilus_trader.model.enums import (
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from nautilus_trader.model.identifiers import AccountId, ClientOrderId, TradeId, VenueOrderId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.model.orders import Order

ORDER_STATUS = {
    "new": OrderStatus.ACCEPTED,
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,
    "calculated": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
    "pending_replace": OrderStatus.PENDING_UPDATE,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "done_for_day": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "suspended": OrderStatus.REJECTED,
    "stopped": OrderStatus.ACCEPTED,
}
_TIF = {
    TimeInForce.GTC: AlpacaTif.GTC,
    TimeInForce.DAY: AlpacaTif.DAY,
    TimeInForce.IOC: AlpacaTif.IOC,
    TimeInForce.FOK: AlpacaTif.FOK,
}
_TIF_BACK = {alpaca.value: ours for ours, alpaca in _TIF.items()}


def value(enum_or_text: Any) -> str:
    """The wire text of an alpaca-py enum (or of text that already is one)."""
    return str(getattr(enum_or_text, "value", enum_or_text))


def order_request(order: Order, instrument: Instrument) -> OrderRequest:
    """The alpaca-py request for a market or limit order. ValueError for other types and
    time-in-force values Alpaca does not take."""
    if order.time_in_force not in _TIF:
        raise ValueError(f"Alpaca takes GTC, DAY, IOC or FOK orders, not {order.time_in_force}")
    common = {
        "symbol": instrument.raw_symbol.value,
        "qty": order.quantity.as_double(),
        "side": AlpacaSide.BUY if order.side == OrderSide.BUY else AlpacaSide.SELL,
        "time_in_force": _TIF[order.time_in_force],
        "client_order_id": order.client_order_id.value,
    }
    if order.order_type == OrderType.MARKET:
        return MarketOrderRequest(**common)
    if order.order_type == OrderType.LIMIT:
        return LimitOrderRequest(**common, limit_price=order.price.as_double())
    kind = order.type_string()
    raise ValueError(f"The Alpaca adapter sends market and limit orders only, not {kind}")


def order_report(
    account_id: AccountId, instrument: Instrument, order: AlpacaOrder, ts_init: int
) -> OrderStatusReport:
    """One Alpaca order as an OrderStatusReport."""
    filled = float(order.filled_qty or 0)
    avg = order.filled_avg_price
    limit = order.limit_price
    return OrderStatusReport(
        account_id=account_id,
        instrument_id=instrument.id,
        client_order_id=ClientOrderId(order.client_order_id),
        venue_order_id=VenueOrderId(str(order.id)),
        order_side=OrderSide.BUY if value(order.side) == "buy" else OrderSide.SELL,
        order_type=OrderType.LIMIT if value(order.order_type) == "limit" else OrderType.MARKET,
        time_in_force=_TIF_BACK.get(value(order.time_in_force), TimeInForce.GTC),
        order_status=ORDER_STATUS.get(value(order.status), OrderStatus.ACCEPTED),
        quantity=Quantity(float(order.qty or 0), instrument.size_precision),
        filled_qty=Quantity(filled, instrument.size_precision),
        report_id=UUID4(),
        ts_accepted=dt_to_unix_nanos(order.submitted_at or order.created_at),
        ts_last=dt_to_unix_nanos(order.updated_at),
        ts_init=ts_init,
        price=None if limit is None else Price(float(limit), instrument.price_precision),
        avg_px=None if avg is None else Decimal(str(avg)),
    )


def fill_report(
    account_id: AccountId, instrument: Instrument, row: dict[str, Any], ts_init: int
) -> FillReport:
    """One row of `/v2/account/activities/FILL` as a FillReport (Alpaca equities charge no
    commission; crypto fees are not itemised in the row)."""
    return FillReport(
        account_id=account_id,
        instrument_id=instrument.id,
        venue_order_id=VenueOrderId(str(row["order_id"])),
        trade_id=activity_trade_id(row),
        order_side=OrderSide.BUY if row["side"] == "buy" else OrderSide.SELL,
        last_qty=Quantity(float(row["qty"]), instrument.size_precision),
        last_px=Price(float(row["price"]), instrument.price_precision),
        commission=Money(0, instrument.quote_currency),
        liquidity_side=LiquiditySide.TAKER,
        report_id=UUID4(),
        ts_event=pd.Timestamp(row["transaction_time"]).value,
        ts_init=ts_init,
    )


def activity_trade_id(row: dict[str, Any]) -> TradeId:
    """The trade id of a FILL activity: the execution id after the "::" of its `id`
    ("20240102T143000.123Z::<execution id>"), the `execution_id` the trade stream gave the same
    fill. The whole `id` is longer than a TradeId may be (36), and under it a restart could not
    tell a fill it has booked from a new one."""
    return TradeId(str(row["id"]).rsplit("::", 1)[-1][-36:])


def position_report(
    account_id: AccountId, instrument: Instrument, position: AlpacaPosition, ts_init: int
) -> PositionStatusReport:
    """One Alpaca position (signed `qty`) as a PositionStatusReport."""
    qty = float(position.qty)
    side = PositionSide.LONG if qty > 0 else PositionSide.SHORT if qty < 0 else PositionSide.FLAT
    return PositionStatusReport(
        account_id=account_id,
        instrument_id=instrument.id,
        position_side=side,
        quantity=Quantity(abs(qty), instrument.size_precision),
        report_id=UUID4(),
        ts_last=ts_init,
        ts_init=ts_init,
        avg_px_open=Decimal(str(position.avg_entry_price)),
    )
