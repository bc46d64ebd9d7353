"""Alpaca instruments from the trading API's `/v2/assets/{symbol}`.

- US equities become nautilus `Equity` instruments: whole shares, because nautilus' Equity fixes
  its size precision at 0 (and Alpaca refuses fractional short sales and fractional orders
  other than DAY market/limit orders, so whole shares are also the safe common ground).
- Crypto pairs (`BTC/USD`) become `CurrencyPair`s whose size increment is the asset's
  `min_trade_increment` when it is `fractionable`, else one unit.
- The asset's trading flags (`tradable`, `shortable`, `easy_to_borrow`, `fractionable`) travel
  in the instrument's `info`; `is_long_only` reads them: crypto cannot be shorted at Alpaca, and
  an equity only when it is shortable and easy to borrow (Alpaca does not lend hard-to-borrow
  shares).
"""

import asyncio
import time
from decimal import Decimal
from typing import Any

from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetClass
from alpaca.trading.models import Asset
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import CurrencyPair, Equity, Instrument
from nautilus_trader.model.objects import Currency, Price, Quantity

from bot.core.errors import ConfigError, VenueError

EQUITY_TICK = "0.01"  # Alpaca quotes equities of $1 and up in cents
_FLAGS = ("tradable", "shortable", "easy_to_borrow", "fractionable", "marginable")


def fetch_asset(client: TradingClient, symbol: str) -> Asset:
    """The asset `symbol` at Alpaca (blocking REST). ConfigError when Alpaca does not list it or
    refuses the keys, VenueError on other API errors."""
    try:
        return client.get_asset(symbol)
    except APIError as exc:
        # Branch on the HTTP status: APIError.code raises on bodies without a code.
        if exc.status_code == 404:
            raise ConfigError(
                f"Alpaca does not list the asset {symbol!r}. Nothing was traded. Check --symbol "
                "(e.g. AAPL, or BTC/USD for crypto)."
            ) from None
        if exc.status_code in (401, 403):
            raise ConfigError(
                f"Alpaca refused the API keys (HTTP {exc.status_code}). Nothing was traded. Check "
                "APCA_API_KEY_ID and APCA_API_SECRET_KEY, and that paper keys go with the paper "
                "endpoint (venues.alpaca.trading_url)."
            ) from None
        raise VenueError(
            f"Alpaca answered the asset request for {symbol} with HTTP {exc.status_code}. Retry "
            "later; if it persists, check https://status.alpaca.markets."
        ) from None


def is_crypto(asset: Asset) -> bool:
    """Whether the asset trades on Alpaca's crypto venue."""
    return asset.asset_class == AssetClass.CRYPTO


def is_long_only(asset: Asset) -> bool:
    """Crypto is long only at Alpaca; an equity may be shorted only when shortable and easy to
    borrow."""
    return is_crypto(asset) or not (asset.shortable and asset.easy_to_borrow)


def instrument_from_asset(asset: Asset, ts_ns: int) -> Instrument:
    """The nautilus instrument of an Alpaca asset (see the module docstring)."""
    info: dict[str, Any] = {flag: bool(getattr(asset, flag)) for flag in _FLAGS}
    info["asset_class"] = asset.asset_class.value
    instrument_id = InstrumentId.from_str(f"{asset.symbol}.ALPACA")
    tick = Price.from_str(_decimal_text(asset.price_increment, EQUITY_TICK))
    if not is_crypto(asset):
        return Equity(
            instrument_id=instrument_id,
            raw_symbol=Symbol(asset.symbol),
            currency=USD,
            price_precision=tick.precision,
            price_increment=tick,
            lot_size=Quantity.from_int(1),
            ts_event=ts_ns,
            ts_init=ts_ns,
            info=info,
        )
    base, quote = asset.symbol.split("/")
    step_text = _decimal_text(asset.min_trade_increment, "1") if asset.fractionable else "1"
    step = Quantity.from_str(step_text)
    minimum = asset.min_order_size
    return CurrencyPair(
        instrument_id=instrument_id,
        raw_symbol=Symbol(asset.symbol),
        base_currency=Currency.from_str(base),
        quote_currency=Currency.from_str(quote),
        price_precision=tick.precision,
        size_precision=step.precision,
        price_increment=tick,
        size_increment=step,
        min_quantity=None if minimum is None else Quantity(minimum, step.precision),
        # Fees are charged per fill and reported with it; the instrument's fee fields only feed
        # backtest commission models.
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
        ts_event=ts_ns,
        ts_init=ts_ns,
        info=info,
    )


class AlpacaInstrumentProvider(InstrumentProvider):
    """Loads the configured Alpaca instruments (`load_ids`); `asset(instrument_id)` gives the
    Alpaca asset behind a loaded instrument."""

    def __init__(self, client: TradingClient, config: InstrumentProviderConfig) -> None:
        super().__init__(config=config)
        self._client = client
        self._assets: dict[InstrumentId, Asset] = {}

    async def load_all_async(self, filters: dict | None = None) -> None:
        raise ConfigError(
            "The Alpaca adapter loads only the traded instruments: Alpaca lists thousands of "
            "assets. Set instrument_provider.load_ids instead of load_all."
        )

    async def load_ids_async(
        self, instrument_ids: list[InstrumentId], filters: dict | None = None
    ) -> None:
        for instrument_id in instrument_ids:
            await self.load_async(instrument_id, filters)

    async def load_async(self, instrument_id: InstrumentId, filters: dict | None = None) -> None:
        symbol = instrument_id.symbol.value
        asset = await asyncio.to_thread(fetch_asset, self._client, symbol)
        if not asset.tradable:
            raise ConfigError(f"Alpaca lists {symbol} as not tradable: choose another symbol.")
        self._assets[instrument_id] = asset
        self.add(instrument_from_asset(asset, time.time_ns()))

    def asset(self, instrument_id: InstrumentId) -> Asset | None:
        """The Alpaca asset of a loaded instrument."""
        return self._assets.get(instrument_id)

    def by_position_symbol(self, symbol: str) -> Instrument | None:
        """The loaded instrument of a position's symbol: Alpaca lists crypto positions without
        the slash ("BTCUSD")."""
        for instrument in self.list_all():
            if is_position_of(symbol, instrument.raw_symbol.value):
                return instrument
        return None


def is_position_of(position_symbol: str, symbol: str) -> bool:
    """Whether a position listed as `position_symbol` holds `symbol`: Alpaca lists crypto
    positions without the slash ("BTCUSD" for "BTC/USD")."""
    return position_symbol in (symbol, symbol.replace("/", ""))


def _decimal_text(value: float | None, default: str) -> str:
    if value is None:
        return default
    return format(Decimal(str(value)).normalize(), "f")
