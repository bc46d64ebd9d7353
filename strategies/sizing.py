"""How much a routed strategy orders: the orders that move its position toward its target
(`plan`), each sized to the venue's step and, for a buy on a cash account, to the free cash
(`order_size`, `affordable`)."""

import math
from decimal import Decimal

from nautilus_trader.model.enums import AccountType
from nautilus_trader.model.instruments import Instrument

from strategies.orders import pending_orders
from strategies.venue_filters import step_floor


def plan(
    held: Decimal, target: float, price: float, multiplier: float, band: float
) -> tuple[Decimal, float]:
    """The orders that move a position of `held` units to `target` units at `price`: a close of
    all of `held` (0: none) when the target is flat or on the other side, since no order ever
    flips a position; then the change left to trade, or 0.0 when its notional (x `multiplier`)
    is below `band`."""
    close = Decimal(0)
    if held != 0 and (target == 0 or (target > 0) != (held > 0)):
        close, held = -held, Decimal(0)
    delta = target - float(held)
    if delta == 0 or abs(delta) * price * multiplier < band:
        return close, 0.0
    return close, delta


def affordable(portfolio, cache, instrument: Instrument, price: float, reserve: float) -> float:
    """Units a buy of `instrument` at `price` may take: unlimited on margin; on cash, the free
    cash less the `reserve` share of it less the buys still pending (every strategy's)."""
    account = portfolio.account(instrument.id.venue)
    if account.type != AccountType.CASH:
        return math.inf
    balance = account.balance_free(instrument.quote_currency)
    free = balance.as_double() if balance is not None else 0.0
    buys = (o for o in pending_orders(cache, instrument.id) if o.is_buy)
    pending = sum(o.leaves_qty.as_double() for o in buys) * price
    # The reserve is kept back from the free cash once, not from what each buy leaves: else the
    # strategies buying on one bar each spend most of the previous one's reserve.
    spend = max(free * (1.0 - reserve) - pending, 0.0)
    return spend / (price * instrument.multiplier.as_double())


def order_size(
    qty: float, price: float, portfolio, cache, instrument: Instrument, reserve: float
) -> Decimal:
    """The signed units of an order for `qty` at `price` that can go out: a buy cut to what the
    cash affords (`affordable`), then rounded toward zero to the instrument's size step."""
    if qty > 0:
        qty = min(qty, affordable(portfolio, cache, instrument, price, reserve))
    return step_floor(qty, instrument.size_increment.as_decimal())
