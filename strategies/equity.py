"""Mark-to-market equity of a venue account, as the strategies size orders and the router and
risk guard watch it."""

from nautilus_trader.model.enums import AccountType, PriceType
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price

from bot.core.errors import VenueError


def account_equity(portfolio, cache, instrument: Instrument, price: Price | None = None) -> float:
    """Mark-to-market equity of the instrument's venue account, in its quote currency.

    Margin: balance plus the unrealised PnL of every open position on the venue. Cash: the quote
    balance plus held base currency (spot coins) at the last price. `price` is the instrument's
    last price when the caller has it (else it is read from the cache).
    """
    account = portfolio.account(instrument.id.venue)
    if account is None:
        raise VenueError(
            f"no account for venue {instrument.id.venue}: strategies cannot size orders. "
            "Check that the venue is configured and connected."
        )
    if price is None:
        price = cache.price(instrument.id, PriceType.LAST)
    balance = account.balance_total(instrument.quote_currency)
    equity = balance.as_double() if balance is not None else 0.0
    if account.type == AccountType.CASH:
        base = instrument.get_base_currency()
        held = account.balance_total(base) if base is not None else None
        if held is not None and price is not None:
            equity += held.as_double() * price.as_double()
        return equity
    for position in cache.positions_open(venue=instrument.id.venue):
        same = position.instrument_id == instrument.id
        last = price if same else cache.price(position.instrument_id, PriceType.LAST)
        if last is not None:
            equity += position.unrealized_pnl(last).as_double()
    return equity
