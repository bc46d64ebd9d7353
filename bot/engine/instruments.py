"""Nautilus instruments for our symbols and asset classes.

| asset class      | instrument      | currencies                      | default tick | size step |
|------------------|-----------------|---------------------------------|--------------|-----------|
| equity, index    | Equity          | USD                             | 0.01         | 1         |
| ... fractional   | Cfd             | USD                             | 0.01         | 0.000001  |
| crypto (spot)    | CurrencyPair    | BTCUSD: base BTC, quote USD     | 0.01         | 0.000001  |
| fx               | CurrencyPair    | EURUSD: base EUR, quote USD     | 0.00001      | 1         |
| perpetual        | CryptoPerpetual | BTCUSDT(-PERP): settles in USDT | 0.01         | 0.000001  |

The instrument id is always `{symbol}.{venue}` (e.g. `BTCUSD.SIM`), so ids round-trip to our
symbols; the base and quote currencies are split off the symbol. Every instrument records its
asset class in `info["asset_class"]`, which is how the catalog remembers it (an index and an
equity are both nautilus `Equity`). Fees are `fee_bps` basis points per side, maker and taker.

Nautilus' `Equity` trades whole units only. Backtests size equities and indices in fractions
(`fractional=True`, a `Cfd` with the same fields) as Alpaca and index CFDs allow: whole units
of an index at 5,000 points would leave each strategy's allocation to rounding.
"""

from decimal import Decimal

import numpy as np
import pandas as pd
from nautilus_trader.model.enums import AssetClass
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import Cfd, CryptoPerpetual, CurrencyPair, Equity, Instrument
from nautilus_trader.model.objects import Currency, Price, Quantity

from bot.core.bars import ASSET_CLASSES
from bot.core.errors import ConfigError

_DEFAULT_PRICE_PRECISION = {"equity": 2, "index": 2, "crypto": 2, "perpetual": 2, "fx": 5}
_SIZE_PRECISION = {"crypto": 6, "perpetual": 6, "fx": 0, "equity": 6, "index": 6}
_CFD_CLASSES = {"equity": AssetClass.EQUITY, "index": AssetClass.INDEX}
_QUOTES = (
    "USDT",
    "USDC",
    "FDUSD",
    "BUSD",
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "AUD",
    "CAD",
    "NZD",
    "BTC",
    "ETH",
)
_PERP_SUFFIX = "-PERP"
_MAX_PRECISION = 9
_SIGNIFICANT_DIGITS = 6


def instrument_id(symbol: str, venue: str = "SIM") -> InstrumentId:
    """The nautilus id of `symbol` at `venue`: `SPX` -> `SPX.SIM`."""
    return InstrumentId(Symbol(symbol), Venue(venue))


def make_instrument(
    symbol: str,
    asset_class: str,
    *,
    venue: str = "SIM",
    price_precision: int | None = None,
    fee_bps: float = 10.0,
    fractional: bool = False,
) -> Instrument:
    """Build the nautilus instrument for `symbol` (see the module table).

    `price_precision` defaults per asset class; pass `price_precision_of(frame)` to fit the data.
    `fractional` sizes equities and indices in fractions of a unit (other classes always are).
    """
    if asset_class not in ASSET_CLASSES:
        raise ConfigError(f"Unknown asset class {asset_class!r}: use one of {ASSET_CLASSES}.")
    precision = (
        _DEFAULT_PRICE_PRECISION[asset_class] if price_precision is None else price_precision
    )
    if not 0 <= precision <= _MAX_PRECISION:
        raise ConfigError(f"Price precision {precision} is outside 0..{_MAX_PRECISION}.")
    fee = Decimal(str(fee_bps)) / Decimal(10_000)
    common = {
        "instrument_id": instrument_id(symbol, venue),
        "raw_symbol": Symbol(symbol),
        "price_precision": precision,
        "price_increment": Price(_step(precision), precision),
        "ts_event": 0,
        "ts_init": 0,
        "maker_fee": fee,
        "taker_fee": fee,
        "info": {"asset_class": asset_class},
    }
    size_precision = _SIZE_PRECISION[asset_class]
    if asset_class in _CFD_CLASSES:
        usd = Currency.from_str("USD")
        if not fractional:
            return Equity(currency=usd, lot_size=Quantity.from_int(1), **common)
        return Cfd(
            asset_class=_CFD_CLASSES[asset_class],
            quote_currency=usd,
            size_precision=size_precision,
            size_increment=Quantity(_step(size_precision), size_precision),
            **common,
        )
    base, quote = _split_pair(symbol, asset_class)
    common |= {
        "base_currency": Currency.from_str(base),
        "quote_currency": Currency.from_str(quote),
        "size_precision": size_precision,
        "size_increment": Quantity(_step(size_precision), size_precision),
    }
    if asset_class == "perpetual":
        return CryptoPerpetual(
            settlement_currency=Currency.from_str(quote), is_inverse=False, **common
        )
    return CurrencyPair(**common)


def price_precision_of(frame: pd.DataFrame) -> int:
    """The fewest decimals that represent every price of `frame` (to float noise), e.g. 2 for
    the SPX file and 5 for EURUSD. Adjusted prices with endless decimals get enough decimals
    for six significant digits of the smallest price."""
    prices = frame[["open", "high", "low", "close"]].to_numpy().ravel()
    for decimals in range(_MAX_PRECISION + 1):
        if np.all(np.abs(prices - np.round(prices, decimals)) <= 1e-6 * np.abs(prices)):
            return decimals
    smallest = float(np.min(np.abs(prices)))
    digits = _SIGNIFICANT_DIGITS - 1 - int(np.floor(np.log10(smallest)))
    return int(np.clip(digits, 2, _MAX_PRECISION))


def asset_class_of(instrument: Instrument) -> str:
    """The asset class recorded on `instrument`, else inferred from its type."""
    recorded = (instrument.info or {}).get("asset_class")
    if recorded in ASSET_CLASSES:
        return recorded
    if isinstance(instrument, CryptoPerpetual):
        return "perpetual"
    if isinstance(instrument, CurrencyPair):
        return "crypto" if instrument.base_currency.currency_type.name == "CRYPTO" else "fx"
    return "equity"


def _step(precision: int) -> Decimal:
    return Decimal(1).scaleb(-precision)


def _split_pair(symbol: str, asset_class: str) -> tuple[str, str]:
    pair = symbol.upper().removesuffix(_PERP_SUFFIX)
    for separator in ("/", "-"):
        if separator in pair:
            base, _, quote = pair.partition(separator)
            return base, quote
    if asset_class == "fx" and len(pair) == 6:
        return pair[:3], pair[3:]
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair.removesuffix(quote), quote
    raise ConfigError(
        f"Cannot tell the base and quote currencies of {symbol!r}: name {asset_class} symbols "
        f"like BTCUSD, BTC/USD or BTC-USDT (quote one of {', '.join(_QUOTES)})."
    )
