"""A routed strategy's own fills (`FillLedger`): its position and PnL, apart from the others'.

The strategies share one NETTING account, so the venue's position and the portfolio's PnL are
their sum: each strategy keeps its own share from its own fill events instead.
"""

from collections.abc import Iterable
from decimal import Decimal

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.instruments import Instrument


class FillLedger:
    """Signed units and cash of one strategy's fills of `instrument`, so that its PnL is
    cash + units x price x multiplier, net of fees charged in the quote currency.

    Built on start from the strategy's orders in the cache (a restarted live node loads them from
    Redis, with the fills that reconciliation added while it was down: the ledger continues from
    them); `add` books each fill after that. Before the strategy starts, or when its instrument
    is not in the cache, the ledger has no instrument, holds no fills and its PnL is 0.
    """

    def __init__(self, instrument: Instrument | None = None, orders: Iterable = ()) -> None:
        self.cash = 0.0
        self.units = 0.0
        self.position = Decimal(0)  # the same units, exact: what the next order nets against
        self._instrument = instrument
        for order in orders:
            for event in order.events:
                if isinstance(event, OrderFilled):
                    self.add(event)

    def add(self, fill: OrderFilled) -> None:
        """Book one fill: its units, their cost at the fill price and its quote-currency fee."""
        sign = 1.0 if fill.order_side == OrderSide.BUY else -1.0
        qty = fill.last_qty.as_double()
        self.units += sign * qty
        self.position += fill.last_qty.as_decimal() * int(sign)
        self.cash -= sign * qty * fill.last_px.as_double() * self._multiplier()
        if fill.commission.currency == self._instrument.quote_currency:
            self.cash -= fill.commission.as_double()

    def pnl(self, price: float) -> float:
        """Mark-to-market PnL of the fills at `price`; O(1)."""
        if self._instrument is None:
            return 0.0
        return self.cash + self.units * price * self._multiplier()

    def _multiplier(self) -> float:
        return self._instrument.multiplier.as_double()
