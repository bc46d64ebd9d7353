"""The venue's order filters, checked before an order goes out: size step, minimum quantity and
minimum notional, as the nautilus instrument carries them (`size_increment`, `min_quantity`,
`min_notional`; Binance's LOT_SIZE and MIN_NOTIONAL filters). An order the venue would refuse
(Binance -4164, "notional must be no smaller than ...") is never sent: the strategy holds what
it holds and says why. Instruments without minimums (the backtests' index instruments) pass.
"""

import math
from decimal import Decimal

from nautilus_trader.model.instruments import Instrument


def step_floor(qty: float, step: Decimal) -> Decimal:
    """`qty` rounded toward zero to a whole number of `step`s (signed); a quantity a hair under
    a whole step (float noise, 1e-9 of a step) counts as that step."""
    steps = math.floor(abs(qty) / float(step) + 1e-9)
    return steps * step * (1 if qty > 0 else -1)


def below_minimum(instrument: Instrument, qty: Decimal, price: float | None) -> str | None:
    """Why the venue would refuse a market order of signed `qty` at about `price` (below its
    minimum quantity or notional), or None when it may go."""
    size = abs(qty)
    least = instrument.min_quantity
    if least is not None and size < least.as_decimal():
        return f"quantity {size} is below the venue's minimum {least} ({instrument.id})"
    least_notional = instrument.min_notional
    if least_notional is None or price is None:
        return None
    notional = float(size) * price * instrument.multiplier.as_double()
    if notional < least_notional.as_double():
        return (
            f"notional {notional:.2f} is below the venue's minimum {least_notional} "
            f"({instrument.id})"
        )
    return None
