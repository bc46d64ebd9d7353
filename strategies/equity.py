"""Mark-to-market equity of a venue account, as the strategies size orders (`VenueEquity`, kept
from events) and the router and risk guard watch it (`account_equity`)."""

from nautilus_trader.model.enums import AccountType, PriceType
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Money, Price

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


class VenueEquity:
    """`account_equity` of one instrument's venue account, kept from events instead of walking
    the cache's open positions on every call: a strategy sizes with it on every rebalance.

    Margin accounts: the balance is the account's own (nautilus keeps it from account-state
    events) and the open positions of the venue, every strategy's, are kept from the position
    events: their signed quantity and average open price, the PnL computed and rounded to the
    cent as nautilus' `Position.unrealized_pnl` does. Cash accounts and inverse instruments keep
    the cache walk of `account_equity` (O(1) for cash). `seed` (re)reads the open positions from
    the cache, on start; `on_position` follows every position event on the bus after it.
    """

    def __init__(self, portfolio, cache, instrument: Instrument) -> None:
        self._portfolio, self._cache, self._instrument = portfolio, cache, instrument
        self._open: dict = {}  # position id -> (instrument id, signed qty, avg open price)
        self._terms: dict = {}  # instrument id -> (multiplier, settlement currency)
        self._inverse = False

    def seed(self) -> None:
        """Read the venue's open positions from the cache, and follow events from here on."""
        self._open.clear()
        for position in self._cache.positions_open(venue=self._instrument.id.venue):
            self._book(
                position.id, position.instrument_id, position.signed_qty, position.avg_px_open
            )

    def on_position(self, event) -> None:
        """Follow a position event of any strategy on the venue."""
        if event.instrument_id.venue == self._instrument.id.venue:
            self._book(event.position_id, event.instrument_id, event.signed_qty, event.avg_px_open)

    def value(self, price: Price | None) -> float:
        """Mark-to-market equity in the quote currency, the instrument at `price`."""
        account = self._portfolio.account(self._instrument.id.venue)
        if account is None or account.type == AccountType.CASH or self._inverse:
            return account_equity(self._portfolio, self._cache, self._instrument, price)
        balance = account.balance_total(self._instrument.quote_currency)
        equity = balance.as_double() if balance is not None else 0.0
        for instrument_id, qty, avg_px in self._open.values():
            last = price if instrument_id == self._instrument.id else None
            if last is None:
                last = self._cache.price(instrument_id, PriceType.LAST)
            if last is not None:
                multiplier, currency = self._terms[instrument_id]
                pnl = abs(qty) * multiplier * (last.as_double() - avg_px) * (1 if qty > 0 else -1)
                equity += Money(pnl, currency).as_double()  # rounded as Position's
        return equity

    def _book(self, position_id, instrument_id, qty: float, avg_px: float) -> None:
        if instrument_id not in self._terms:
            instrument = self._cache.instrument(instrument_id)
            self._inverse |= instrument is None or instrument.is_inverse
            if instrument is not None:
                terms = (instrument.multiplier.as_double(), instrument.get_settlement_currency())
                self._terms[instrument_id] = terms
        if qty == 0:
            self._open.pop(position_id, None)
        else:
            self._open[position_id] = (instrument_id, qty, avg_px)
